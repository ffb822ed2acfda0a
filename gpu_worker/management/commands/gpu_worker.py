from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


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
        parser.add_argument("--worker-id", default=None, help="Default: <hostname>:<device>.")
        parser.add_argument(
            "--max-orders", type=int, default=None, help="Stop after this many queue messages."
        )
        parser.add_argument("--steps", type=int, default=settings.HEADSHOT_STEPS)
        parser.add_argument(
            "--likeness-threshold", type=float, default=settings.HEADSHOT_LIKENESS_THRESHOLD
        )
        parser.add_argument("--likeness-tries", type=int, default=settings.HEADSHOT_LIKENESS_TRIES)

    def handle(self, *args, device, models, model_dir, worker_id, max_orders, **options):
        # The worker's stack is imported here, never at module level: the web process
        # lists management commands without loading torch.
        from gpu_worker.pipeline.engine import HeadshotEngine
        from gpu_worker.weights.layout import ModelsMissing
        from gpu_worker.worker import GpuWorker, WorkerOptions

        model_set = models or settings.HEADSHOT_MODELS
        model_dir = model_dir or settings.HEADSHOT_MODEL_DIR
        if device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise CommandError(f"--device {device}: no CUDA device here. Use --device cpu.")
        try:
            engine = HeadshotEngine.load(model_dir=model_dir, model_set=model_set, device=device)
        except ModelsMissing as error:
            raise CommandError(str(error)) from error
        worker = GpuWorker(
            engine=engine,
            device=device,
            model_set=model_set,
            worker_id=worker_id,
            options=WorkerOptions(
                steps=options["steps"],
                likeness_threshold=options["likeness_threshold"],
                likeness_tries=options["likeness_tries"],
            ),
        )
        worker.install_signal_handlers()
        handled = worker.run(max_orders=max_orders)
        self.stdout.write(f"worker stopped after {handled} queue messages")
