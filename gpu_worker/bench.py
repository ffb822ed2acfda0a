"""Benchmark the engine's GPU work and its speed levers, with random weights.

    python -m gpu_worker.bench --device cuda:0 --all       # every lever, one table
    python -m gpu_worker.bench --tiny --all                # the same rows, tiny, on a CPU
    python -m gpu_worker.bench --scheduler dpmpp-2m-karras --steps 20 --batch 4 \
        --compile max-autotune-no-cudagraphs --fused-qkv --sdpa flash   # one row

Builds full-size SDXL UNet + IdentityNet (with InstantID's face attention) + SDXL VAE +
RRDBNet (Real-ESRGAN x4plus shapes), nothing downloaded, and runs them through the
engine's own denoiser, decoder and upscaler. Each row is one setting of the levers:
scheduler and steps, batch, torch.compile mode, fused QKV projections, channels-last,
the SDPA backend, VAE decode batched or one image at a time, and the upscaler with and
without compile. Each row gives seconds per headshot, the FLOP floor (the FLOPs of one
headshot at the card's measured dense matmul rate) and how close to it the row comes,
peak GPU memory, and, for compiled rows, the compile time apart from the steady state.

A headshot's time is measured, not extrapolated from one call: ``MEASURED_STEPS``
denoising steps of the real scheduler after warm-up steps, scaled to the row's step
count, plus its decode. On a CPU, torch.compile rows use dynamo with the eager backend
(graph capture without code generation), so that ``--tiny --all`` runs every row in
the test suite in seconds; their figures say nothing about inductor.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import torch
from diffusers import (
    AutoencoderKL,
    ControlNetModel,
    DPMSolverMultistepScheduler,
    EulerDiscreteScheduler,
    UNet2DConditionModel,
)
from diffusers.models.attention_processor import Attention, FusedAttnProcessor2_0
from diffusers.utils import logging as diffusers_logging
from spandrel import ImageModelDescriptor, ModelLoader
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from gpu_worker import tiny
from gpu_worker.pipeline.instantid import (
    FACE_EMBEDDING_DIM,
    FACE_TOKENS,
    Conditioning,
    IdentityDenoiser,
    Resampler,
    decode_latents,
    install_face_adapter,
)
from gpu_worker.pipeline.upscale import Upscaler

SDXL_UNET = {
    "sample_size": 128,
    "in_channels": 4,
    "out_channels": 4,
    "block_out_channels": (320, 640, 1280),
    "layers_per_block": 2,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    "attention_head_dim": (5, 10, 20),
    "transformer_layers_per_block": (1, 2, 10),
    "cross_attention_dim": 2048,
    "addition_embed_type": "text_time",
    "addition_time_embed_dim": 256,
    "projection_class_embeddings_input_dim": 2816,
    "use_linear_projection": True,
}
SDXL_VAE = {
    "block_out_channels": (128, 256, 512, 512),
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "latent_channels": 4,
    "layers_per_block": 2,
    "sample_size": 1024,
    "scaling_factor": 0.13025,
}
SDXL_POOLED_DIM = 1280
INSTANTID_CONDITIONING_CHANNELS = (16, 32, 96, 256)
INSTANTID_RESAMPLER = {"dim": 1280, "depth": 4, "heads": 20, "ff_mult": 4}
REAL_ESRGAN_X4PLUS = {"num_feat": 64, "num_block": 23, "num_grow_ch": 32}
TEXT_TOKENS = 77


@dataclass(frozen=True)
class Shapes:
    unet: dict
    vae: dict
    controlnet_channels: tuple[int, ...]
    resampler: dict
    pooled_dim: int
    rrdb: dict
    upscale_input: int

    @property
    def vae_scale(self) -> int:
        return 2 ** (len(self.vae["block_out_channels"]) - 1)

    @property
    def size(self) -> int:
        return self.unet["sample_size"] * self.vae_scale


FULL = Shapes(
    unet=SDXL_UNET,
    vae=SDXL_VAE,
    controlnet_channels=INSTANTID_CONDITIONING_CHANNELS,
    resampler=INSTANTID_RESAMPLER,
    pooled_dim=SDXL_POOLED_DIM,
    rrdb=REAL_ESRGAN_X4PLUS,
    upscale_input=1024,
)
TINY = Shapes(
    unet=tiny.UNET,
    vae=tiny.VAE,
    controlnet_channels=tiny.CONTROLNET_CONDITIONING_CHANNELS,
    resampler={key: tiny.RESAMPLER[key] for key in ("dim", "depth", "heads", "ff_mult")},
    pooled_dim=tiny.TEXT_ENCODER_2["projection_dim"],
    rrdb=tiny.RRDB,
    # The engine's tiny upscaler works at 256 px too (a 1024 px input takes ~20 s on a CPU).
    upscale_input=256,
)


# Timed steps per row after warm-up; a headshot's time scales them to the row's steps.
# On a CPU (tiny shapes, the test suite) one of each keeps --all short.
MEASURED_STEPS = {"cuda": 4, "cpu": 1}
WARMUP_STEPS = {"cuda": 2, "cpu": 1}
GUIDANCE = 5.0
SCHEDULERS = ("euler", "dpmpp-2m-karras")
COMPILE_MODES = ("off", "default", "max-autotune-no-cudagraphs", "max-autotune")
SDPA_BACKENDS = {
    "default": None,
    "flash": SDPBackend.FLASH_ATTENTION,
    "efficient": SDPBackend.EFFICIENT_ATTENTION,
    "math": SDPBackend.MATH,
    "cudnn": SDPBackend.CUDNN_ATTENTION,
}


@dataclass(frozen=True)
class Levers:
    """One row: a setting of every speed lever. The defaults are the engine's own."""

    scheduler: str = "euler"
    steps: int = 30
    batch: int = 1
    compile: str = "off"
    fused_qkv: bool = False
    channels_last: bool = True
    sdpa: str = "default"
    vae_decode: str = "batched"

    def label(self) -> str:
        scheduler = "Euler" if self.scheduler == "euler" else "DPM++ 2M Karras"
        parts = [f"{scheduler} {self.steps}", f"batch {self.batch}"]
        if self.compile != "off":
            parts.append(f"compile {self.compile}")
        if self.fused_qkv:
            parts.append("fused QKV")
        if not self.channels_last:
            parts.append("channels-first")
        if self.sdpa != "default":
            parts.append(f"SDPA {self.sdpa}")
        if self.vae_decode != "batched":
            parts.append("decode one at a time")
        return ", ".join(parts)


def all_rows(base: Levers) -> list[Levers]:
    """Every lever, each moved alone from ``base`` (batch rows at batch 4 and 8)."""
    batch4 = replace(base, batch=4)
    return [
        base,
        replace(base, scheduler="dpmpp-2m-karras", steps=20),
        replace(base, scheduler="dpmpp-2m-karras", steps=25),
        batch4,
        replace(base, batch=8),
        replace(batch4, vae_decode="one-at-a-time"),
        replace(base, fused_qkv=True),
        replace(base, channels_last=False),
        *(replace(base, sdpa=name) for name in SDPA_BACKENDS if name != "default"),
        *(replace(batch4, compile=mode) for mode in COMPILE_MODES if mode != "off"),
    ]


@dataclass
class Row:
    label: str
    seconds: float | None = None  # per headshot (or per upscale)
    floor: float | None = None
    peak_memory: str = ""
    compile_seconds: float | None = None
    note: str = ""


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device, *, warmup: int, repeat: int) -> float:
    """Mean seconds per call after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    synchronize(device)
    return (time.perf_counter() - start) / repeat


def first_call(fn: Callable[[], object], device: torch.device) -> float:
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def flops_of(fn: Callable[[], object]) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def matmul_rate(device: torch.device, dtype: torch.dtype) -> tuple[float, str]:
    """Measured dense matmul throughput in FLOP/s, and what was measured."""
    n = 8192 if device.type == "cuda" else 1024
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    # The best of several runs: a floor must not rise because a shared CPU was busy.
    seconds = min(
        timed(lambda: a @ b, device, warmup=1 if trial else 3, repeat=5) for trial in range(5)
    )
    return 2 * n**3 / seconds, f"{str(dtype).removeprefix('torch.')} {n}x{n}x{n}, best of 5"


def build_controlnet(unet: UNet2DConditionModel, shapes: Shapes) -> ControlNetModel:
    """IdentityNet as InstantX made it: a ControlNet from the SDXL UNet, with its
    keypoint-image embedding's channels."""
    return ControlNetModel.from_unet(
        unet, conditioning_embedding_out_channels=shapes.controlnet_channels
    )


def build_denoiser(
    shapes: Shapes, device: torch.device, dtype: torch.dtype
) -> tuple[IdentityDenoiser, Resampler]:
    torch.manual_seed(0)
    with torch.device(device):
        unet = UNet2DConditionModel(**shapes.unet)
        controlnet = build_controlnet(unet, shapes)
        resampler = Resampler(
            **shapes.resampler,
            num_queries=FACE_TOKENS,
            embedding_dim=FACE_EMBEDDING_DIM,
            output_dim=shapes.unet["cross_attention_dim"],
        )
    install_face_adapter(unet, tiny.face_adapter_layers(unet), scale=0.8)
    for model in (unet, controlnet, resampler):
        model.to(dtype).eval()
    scheduler = EulerDiscreteScheduler(**tiny.SDXL_SCHEDULER)
    return IdentityDenoiser(unet, controlnet, scheduler, identitynet_scale=0.8), resampler


def make_scheduler(name: str):
    euler = EulerDiscreteScheduler(**tiny.SDXL_SCHEDULER)
    if name == "euler":
        return euler
    return DPMSolverMultistepScheduler.from_config(
        euler.config, algorithm_type="dpmsolver++", solver_order=2, use_karras_sigmas=True
    )


def random_conditioning(
    shapes: Shapes, resampler: Resampler, batch: int, device: torch.device, dtype: torch.dtype
) -> Conditioning:
    width = shapes.unet["cross_attention_dim"]
    face = resampler(torch.randn(2, 1, FACE_EMBEDDING_DIM, device=device, dtype=dtype))
    face_tokens = face.repeat_interleave(batch, dim=0)
    text = torch.randn(2 * batch, TEXT_TOKENS, width, device=device, dtype=dtype)
    size = shapes.size
    return Conditioning(
        prompt_embeds=torch.cat([text, face_tokens], dim=1),
        face_tokens=face_tokens,
        pooled=torch.randn(2 * batch, shapes.pooled_dim, device=device, dtype=dtype),
        time_ids=torch.tensor([[size, size, 0, 0, size, size]], device=device, dtype=dtype).expand(
            2 * batch, -1
        ),
        control_image=torch.rand(1, 3, size, size, device=device, dtype=dtype).expand(
            2 * batch, -1, -1, -1
        ),
    )


def build_upscaler(shapes: Shapes, device: torch.device) -> Upscaler:
    state = tiny.rrdb_state_dict(**shapes.rrdb, seed=0)
    model = ModelLoader().load_from_state_dict({"params_ema": state})
    assert isinstance(model, ImageModelDescriptor) and model.scale == 4
    return Upscaler(model, device=device)


def _flops(count: float) -> str:
    return f"{count / 1e12:.2f} TFLOP" if count >= 1e11 else f"{count / 1e9:.2f} GFLOP"


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: torch.device) -> str:
    if device.type != "cuda":
        return "n/a (CPU)"
    return f"{torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB"


def compiled(module: torch.nn.Module, mode: str, device: torch.device) -> torch.nn.Module:
    if device.type != "cuda":
        # Graph capture without inductor's code generation: see the module docstring.
        return torch.compile(module, backend="eager")
    return torch.compile(module, mode=None if mode == "default" else mode)


@contextlib.contextmanager
def fused_self_attention(unet: UNet2DConditionModel, controlnet: ControlNetModel) -> Iterator[None]:
    """Self-attention's Q, K and V as one matmul. Only attn1: cross-attention keeps the
    face processors (their K and V read two different token sets)."""
    saved = [(model, dict(model.attn_processors)) for model in (unet, controlnet)]
    for model in (unet, controlnet):
        processors = dict(model.attn_processors)
        for name in processors:
            if name.endswith("attn1.processor"):
                attn = model.get_submodule(name.removesuffix(".processor"))
                assert isinstance(attn, Attention)
                attn.fuse_projections(fuse=True)
                processors[name] = FusedAttnProcessor2_0()
        model.set_attn_processor(processors)
    try:
        yield
    finally:
        for model, processors in saved:
            model.set_attn_processor(processors)


@contextlib.contextmanager
def memory_format(models: list[torch.nn.Module], channels_last: bool) -> Iterator[None]:
    wanted = torch.channels_last if channels_last else torch.contiguous_format
    for model in models:
        model.to(memory_format=wanted)
    try:
        yield
    finally:
        for model in models:
            model.to(memory_format=torch.channels_last)


@contextlib.contextmanager
def sdpa_backend(name: str) -> Iterator[None]:
    backend = SDPA_BACKENDS[name]
    if backend is None:
        yield
    else:
        with sdpa_kernel(backend):
            yield


class Bench:
    """Models built once; each row sets its levers, measures, and puts them back."""

    def __init__(self, device: torch.device, shapes: Shapes) -> None:
        self.device = device
        self.shapes = shapes
        on_gpu = device.type == "cuda"
        self.dtype = torch.float16 if on_gpu else torch.float32
        self.vae_dtype = torch.bfloat16 if on_gpu else torch.float32
        if on_gpu:
            torch.backends.cudnn.benchmark = True
        self.rate, self.rate_what = matmul_rate(device, self.dtype)
        self.denoiser, self.resampler = build_denoiser(shapes, device, self.dtype)
        torch.manual_seed(0)
        with torch.device(device):
            self.vae = AutoencoderKL(**shapes.vae).to(self.vae_dtype).eval()
        self.upscaler = build_upscaler(shapes, device)
        self._conditions: dict[int, Conditioning] = {}
        self._step_flops: dict[int, int] = {}
        self._decode: dict[tuple[int, str], tuple[float, int]] = {}

    def condition(self, batch: int) -> Conditioning:
        if batch not in self._conditions:
            self._conditions[batch] = random_conditioning(
                self.shapes, self.resampler, batch, self.device, self.dtype
            )
        return self._conditions[batch]

    def latents(self, batch: int) -> torch.Tensor:
        size = self.shapes.unet["sample_size"]
        generator = torch.Generator("cpu").manual_seed(batch)
        noise = torch.randn(batch, 4, size, size, generator=generator)
        return noise.to(self.device, self.dtype)

    def step_flops(self, batch: int) -> int:
        """FLOPs of one guided step, counted eagerly (a compiled graph hides them)."""
        if batch not in self._step_flops:
            scheduler = make_scheduler("euler")
            scheduler.set_timesteps(30, device=self.device)
            t = scheduler.timesteps[0]
            self._step_flops[batch] = flops_of(
                lambda: self.denoiser.predict(self.latents(batch), t, self.condition(batch), 5.0)
            )
        return self._step_flops[batch]

    def decode(self, batch: int, how: str) -> tuple[float, int]:
        """Seconds and FLOPs per image of the VAE decode, batched or one at a time."""
        key = (batch, how)
        if key not in self._decode:
            size = self.shapes.unet["sample_size"]
            latents = torch.randn(batch, 4, size, size, device=self.device)
            if how == "batched":
                run = lambda: decode_latents(self.vae, latents)  # noqa: E731
            else:
                run = lambda: [decode_latents(self.vae, one[None]) for one in latents]  # noqa: E731
            seconds = timed(run, self.device, warmup=1, repeat=1)
            flops = flops_of(lambda: decode_latents(self.vae, latents[:1]))
            self._decode[key] = (seconds / batch, flops)
        return self._decode[key]

    def headshot_row(self, levers: Levers) -> Row:
        row = Row(levers.label())
        batch = levers.batch
        denoiser = self.denoiser
        models = [denoiser.unet, denoiser.controlnet]
        row_denoiser = IdentityDenoiser(
            compiled(denoiser.unet, levers.compile, self.device)
            if levers.compile != "off"
            else denoiser.unet,
            compiled(denoiser.controlnet, levers.compile, self.device)
            if levers.compile != "off"
            else denoiser.controlnet,
            make_scheduler(levers.scheduler),
            identitynet_scale=denoiser.identitynet_scale,
        )
        cond, sample = self.condition(batch), self.latents(batch)
        scheduler = row_denoiser.scheduler
        scheduler.set_timesteps(levers.steps, device=self.device)
        timesteps = scheduler.timesteps

        def step(index: int) -> None:
            nonlocal sample
            t = timesteps[index % len(timesteps)]
            prediction = row_denoiser.predict(sample, t, cond, GUIDANCE)
            sample = scheduler.step(prediction, t, sample, return_dict=False)[0]

        try:
            with (
                torch.inference_mode(),
                contextlib.ExitStack() as levers_on,
            ):
                if levers.fused_qkv:
                    levers_on.enter_context(fused_self_attention(*models))
                if self.device.type == "cuda":
                    levers_on.enter_context(memory_format(models, levers.channels_last))
                levers_on.enter_context(sdpa_backend(levers.sdpa))
                reset_peak(self.device)
                first = first_call(lambda: step(0), self.device)
                warmup = WARMUP_STEPS[self.device.type]
                measured = MEASURED_STEPS[self.device.type]
                for index in range(1, warmup):
                    step(index)
                counter = iter(range(warmup, warmup + measured))
                step_seconds = timed(
                    lambda: step(next(counter)), self.device, warmup=0, repeat=measured
                )
                decode_seconds, decode_flops = self.decode(batch, levers.vae_decode)
                row.peak_memory = peak_memory(self.device)
        except RuntimeError as error:  # an SDPA backend this device lacks, and the like
            row.note = f"not run: {str(error).splitlines()[0][:70]}"
            return row
        finally:
            torch._dynamo.reset()
        if levers.compile != "off":
            row.compile_seconds = max(0.0, first - step_seconds)
        if levers.sdpa != "default" and self.device.type != "cuda":
            row.note = "CPU kernels"
        row.seconds = levers.steps * step_seconds / batch + decode_seconds
        floor_flops = levers.steps * self.step_flops(batch) / batch + decode_flops
        row.floor = floor_flops / self.rate
        return row

    def upscale_rows(self) -> list[Row]:
        side = self.shapes.upscale_input
        image = torch.rand(1, 3, side, side)
        label = (
            f"x4 upscale {side} -> {4 * side} px, {str(self.upscaler.dtype).removeprefix('torch.')}"
        )
        flops = flops_of(lambda: self.upscaler.upscale_tensor(image))
        rows = []
        for use_compile in (False, True):
            row = Row(label + (", compiled" if use_compile else ""))
            upscaler = self.upscaler
            if use_compile:
                # A second copy, compiled in place as the engine does (Upscaler.compile).
                upscaler = build_upscaler(self.shapes, self.device)
                if self.device.type == "cuda":
                    upscaler.compile()
                else:
                    upscaler.model.model.compile(backend="eager")
            try:
                with torch.inference_mode():
                    reset_peak(self.device)
                    first = first_call(lambda u=upscaler: u.upscale_tensor(image), self.device)
                    row.seconds = timed(
                        lambda u=upscaler: u.upscale_tensor(image), self.device, warmup=0, repeat=1
                    )
                    row.peak_memory = peak_memory(self.device)
            finally:
                torch._dynamo.reset()
            if use_compile:
                row.compile_seconds = max(0.0, first - row.seconds)
            row.floor = flops / self.rate
            rows.append(row)
        return rows


def format_table(rows: list[Row]) -> str:
    header = ("row", "s/headshot", "FLOP floor", "of floor", "peak mem", "compile s", "")
    lines = [header]
    for row in rows:
        if row.seconds is None:
            lines.append((row.label, "-", "-", "-", "-", "-", row.note))
            continue
        lines.append(
            (
                row.label,
                f"{row.seconds:.3f}",
                f"{row.floor:.3f}",
                f"{100 * row.floor / row.seconds:.0f}%",
                row.peak_memory,
                "-" if row.compile_seconds is None else f"{row.compile_seconds:.1f}",
                row.note,
            )
        )
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_device = "cuda:0" if torch.cuda.is_available() else "cpu"
    parser.add_argument("--device", default=default_device)
    parser.add_argument("--tiny", action="store_true", help="tiny-set shapes (always on a CPU)")
    parser.add_argument("--all", action="store_true", help="every lever, one row each")
    parser.add_argument("--scheduler", choices=SCHEDULERS, default="euler")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--compile", choices=COMPILE_MODES, default="off")
    parser.add_argument("--fused-qkv", action="store_true")
    parser.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    parser.add_argument("--sdpa", choices=list(SDPA_BACKENDS), default="default")
    parser.add_argument("--vae-decode", choices=["batched", "one-at-a-time"], default="batched")
    parser.add_argument("--no-upscale", dest="upscale", action="store_false")
    args = parser.parse_args(argv)
    diffusers_logging.set_verbosity_error()  # casting random models warns on every .to(dtype)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    shapes = TINY if args.tiny or device.type == "cpu" else FULL
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    which = (
        "tiny set shapes" if shapes is TINY else "full-size SDXL + IdentityNet + Real-ESRGAN x4plus"
    )
    started = time.perf_counter()
    bench = Bench(device, shapes)
    chosen = Levers(
        scheduler=args.scheduler,
        steps=args.steps,
        batch=args.batch,
        compile=args.compile,
        fused_qkv=args.fused_qkv,
        channels_last=args.channels_last,
        sdpa=args.sdpa,
        vae_decode=args.vae_decode,
    )
    rows = [bench.headshot_row(levers) for levers in (all_rows(chosen) if args.all else [chosen])]
    if args.upscale:
        rows += bench.upscale_rows()
    print(f"{name} ({device}); {which}, random weights")
    print(f"matmul rate {_flops(bench.rate)}/s ({bench.rate_what}); FLOP floor = FLOPs / that rate")
    print(format_table(rows))
    print(f"total {time.perf_counter() - started:.0f} s")
    return rows


if __name__ == "__main__":
    main()
