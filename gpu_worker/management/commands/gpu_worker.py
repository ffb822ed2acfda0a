import functools
import logging
import os
import sys
import textwrap
from pathlib import Path
from typing import NoReturn

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections as db_connections

logger = logging.getLogger(__name__)

BOX_WIDTH = 76
# The real set's download (manifest sizes, rounded); see gpu_worker.weights.manifest.
REAL_SET_DOWNLOAD = "about 12 GB"


def problem_box(problem: str, ways_on: list[str]) -> str:
    """A plain-text box for a person watching `make run`'s terminal, where the worker's
    JSON log lines would bury a one-line error."""
    inner = BOX_WIDTH - 4
    # Paths, flags and file names are never cut: a person copies them from here.
    wrap = functools.partial(
        textwrap.wrap, width=inner, break_long_words=False, break_on_hyphens=False
    )
    lines = wrap(f"The GPU worker did not start. {problem}")
    lines += [
        "",
        *wrap(
            "The portal and the scheduler keep running; orders wait in the "
            "queue and start when a worker runs. Two ways on:"
        ),
    ]
    for number, way in enumerate(ways_on, start=1):
        first, *rest = way.split("\n")
        lines.append("")
        lines += wrap(first, initial_indent=f"{number}. ", subsequent_indent="   ")
        lines += [f"     {command}" for command in rest]
    # A path or command longer than the box widens it rather than breaking the border.
    inner = max(inner, *(len(line) for line in lines))
    border = "+" + "-" * (inner + 2) + "+"
    return "\n".join([border, *(f"| {line:<{inner}} |" for line in lines), border])


MISSING_WEIGHTS_WAYS = [
    f"Download the real weights ({REAL_SET_DOWNLOAD}, resumable), then start again. "
    "Usable speed needs an NVIDIA GPU: on a CPU one headshot takes many minutes.\n"
    ".venv/bin/python manage.py fetch_models",
    "Or run the offline demo set (built here in seconds; its images are noise, "
    "stamped TINY DEMO MODEL):\nmake run HEADSHOT_MODELS=tiny",
]


def corrupt_file_ways(refetch_command: str) -> list[str]:
    return [
        "Fetch that one file again (its hash is checked), then start again:\n"
        f".venv/bin/{refetch_command}",
        MISSING_WEIGHTS_WAYS[1],
    ]


MISSING_DEVICE_WAYS = [
    "Run on the CPU (slow with the real weights; fine with the demo set):\n"
    "make run HEADSHOT_DEVICE=cpu",
    "Or name a GPU this machine has (`nvidia-smi -L` lists them):\nmake run HEADSHOT_DEVICE=cuda:0",
]

# The exit status of a worker whose device broke: its supervisor (make run, systemd's
# Restart=always) starts a new process, which gets a fresh CUDA context.
EXIT_DEVICE_BROKEN = 3


class Command(BaseCommand):
    help = (
        "Run one GPU worker: load the models once, then take orders from the GPU queues "
        "until SIGTERM (which finishes the current image and hands the rest back)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--device", default="cuda:0", help="cuda:N or cpu (default cuda:0).")
        parser.add_argument(
            "--models",
            choices=["real", "tiny"],
            default=None,
            help="Model set (default: HEADSHOT_MODELS). tiny is the offline demo set.",
        )
        parser.add_argument(
            "--model-dir", type=Path, default=None, help="Default: HEADSHOT_MODEL_DIR."
        )
        parser.add_argument(
            "--worker-id",
            default=None,
            help="Default: <hostname>:<device> for the device's first worker process, "
            "<hostname>:<device>#N for the Nth. Refused while another process holds it.",
        )
        parser.add_argument(
            "--base-checkpoint",
            type=Path,
            default=None,
            help="An SDXL fine-tune in place of the base: a diffusers folder (sharded or "
            "not, fp16 variant or not, safetensors or .bin) or one .safetensors file "
            "(default: HEADSHOT_BASE_CHECKPOINT).",
        )
        parser.add_argument(
            "--compile",
            action="store_true",
            default=None,
            help="torch.compile the UNet, IdentityNet and upscaler (default: HEADSHOT_COMPILE).",
        )
        parser.add_argument(
            "--verify-weights",
            action="store_true",
            help="Hash every real model file against its pinned SHA-256 before starting "
            "(sizes are always checked).",
        )
        parser.add_argument(
            "--max-orders", type=int, default=None, help="Stop after this many queue messages."
        )
        parser.add_argument("--steps", type=int, default=settings.HEADSHOT_STEPS)
        parser.add_argument(
            "--likeness-threshold", type=float, default=settings.HEADSHOT_LIKENESS_THRESHOLD
        )
        parser.add_argument("--likeness-tries", type=int, default=settings.HEADSHOT_LIKENESS_TRIES)

    def handle(
        self,
        *args,
        device,
        models,
        model_dir,
        worker_id,
        base_checkpoint,
        compile,
        verify_weights,
        max_orders,
        **options,
    ):
        # The worker's stack is imported here, never at module level: the web process
        # lists management commands without loading torch.
        from gpu_worker.pipeline.engine import HeadshotEngine
        from gpu_worker.weights.layout import ModelsCorrupt, ModelsMissing
        from gpu_worker.worker import (
            DeviceBroken,
            GpuWorker,
            WorkerIdInUse,
            WorkerOptions,
            claim_worker_id,
        )

        model_set = models or settings.HEADSHOT_MODELS
        model_dir = model_dir or settings.HEADSHOT_MODEL_DIR
        base_checkpoint = base_checkpoint or settings.HEADSHOT_BASE_CHECKPOINT
        use_torch_compile = settings.HEADSHOT_COMPILE if compile is None else compile
        if device.startswith("cuda"):
            import torch

            index = int(device.partition(":")[2] or 0)
            if index >= torch.cuda.device_count():
                self.fail(f"There is no CUDA device {device} here.", MISSING_DEVICE_WAYS)
        if base_checkpoint is not None and not base_checkpoint.exists():
            raise CommandError(f"--base-checkpoint {base_checkpoint}: no such file or folder.")
        try:
            claim = claim_worker_id(
                device=device, lock_dir=settings.HEADSHOT_WORKER_LOCK_DIR, worker_id=worker_id
            )
        except WorkerIdInUse as error:
            raise CommandError(str(error)) from error
        try:
            engine = HeadshotEngine.load(
                model_dir=model_dir,
                model_set=model_set,
                device=device,
                base_checkpoint=base_checkpoint,
                use_torch_compile=use_torch_compile,
                verify_weights=verify_weights,
            )
        except ModelsCorrupt as error:
            claim.release()
            if error.refetch_command is None:
                self.fail(f"A {model_set} model file is damaged: {error}", MISSING_WEIGHTS_WAYS)
            self.fail(
                f"The {model_set} model file {error.dest} in {Path(model_dir) / model_set} "
                f"{error.problem}: it is truncated or corrupt.",
                corrupt_file_ways(error.refetch_command),
            )
        except ModelsMissing as error:
            claim.release()
            logger.warning("model weights missing: %s", error)
            self.fail(
                f"The {model_set} model weights are missing from {Path(model_dir) / model_set}.",
                MISSING_WEIGHTS_WAYS,
            )
        worker = GpuWorker(
            engine=engine,
            device=device,
            model_set=model_set,
            worker_id=claim.worker_id,
            options=WorkerOptions(
                steps=options["steps"],
                likeness_threshold=options["likeness_threshold"],
                likeness_tries=options["likeness_tries"],
            ),
        )
        worker.install_signal_handlers()
        try:
            handled = worker.run(max_orders=max_orders)
        except DeviceBroken as error:
            raise CommandError(str(error), returncode=EXIT_DEVICE_BROKEN) from error
        finally:
            claim.release()
        self.stdout.write(f"worker stopped after {handled} queue messages")
        # Everything is stored and the stop recorded. Tearing down an interpreter that
        # loaded torch, diffusers and onnxruntime takes seconds (5 s on a busy CPU),
        # which is all a supervisor's SIGTERM would wait for: leave at once instead.
        self.stdout.flush()
        self.stderr.flush()
        logging.shutdown()
        db_connections.close_all()
        os._exit(0)

    def fail(self, problem: str, ways_on: list[str]) -> NoReturn:
        """Show why the worker cannot start in a box on stderr and exit with status 2
        (not a CommandError: its one line would be lost among the JSON log lines)."""
        self.stderr.write(problem_box(problem, ways_on))
        sys.exit(2)
