"""Benchmark the engine's GPU work with random weights (nothing is downloaded).

    python -m gpu_worker.bench [--device cuda:0] [--tiny] [--steps 30] [--compile]

Builds full-size SDXL UNet + IdentityNet (with InstantID's face attention) + SDXL VAE +
RRDBNet (Real-ESRGAN x4plus shapes), runs them through the engine's own denoiser,
decoder and upscaler, and prints the figures DESIGN.md's performance bars use: an
InstantID step (UNet + IdentityNet at guidance batch 2), VAE decode, seconds per
headshot at batch 1 and 4, a 4K upscale of a 1024 px image, peak GPU memory, and the
FLOP-count floor at the card's measured matmul rate. On a CPU it runs the tiny set's
shapes so the script itself stays exercised.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from diffusers import AutoencoderKL, ControlNetModel, EulerDiscreteScheduler, UNet2DConditionModel
from diffusers.utils import logging as diffusers_logging
from spandrel import ImageModelDescriptor, ModelLoader
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


def flops_of(fn: Callable[[], object]) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def matmul_rate(device: torch.device, dtype: torch.dtype) -> tuple[float, str]:
    """Measured dense matmul throughput in FLOP/s, and what was measured."""
    n = 8192 if device.type == "cuda" else 1024
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    seconds = timed(lambda: a @ b, device, warmup=3, repeat=20 if device.type == "cuda" else 5)
    return 2 * n**3 / seconds, f"{str(dtype).removeprefix('torch.')} {n}x{n}x{n}"


def build_denoiser(
    shapes: Shapes, device: torch.device, dtype: torch.dtype
) -> tuple[IdentityDenoiser, Resampler]:
    torch.manual_seed(0)
    with torch.device(device):
        unet = UNet2DConditionModel(**shapes.unet)
        controlnet = ControlNetModel.from_unet(
            unet, conditioning_embedding_out_channels=shapes.controlnet_channels
        )
        resampler = Resampler(
            **shapes.resampler,
            num_queries=FACE_TOKENS,
            embedding_dim=FACE_EMBEDDING_DIM,
            output_dim=shapes.unet["cross_attention_dim"],
        )
    install_face_adapter(unet, tiny.face_adapter_layers(unet), scale=0.8)
    for model in (unet, controlnet, resampler):
        model.to(dtype).eval()
    if device.type == "cuda":
        unet.to(memory_format=torch.channels_last)
        controlnet.to(memory_format=torch.channels_last)
    scheduler = EulerDiscreteScheduler(**tiny.SDXL_SCHEDULER)
    return IdentityDenoiser(unet, controlnet, scheduler, identitynet_scale=0.8), resampler


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


def _flops(count: int) -> str:
    return f"{count / 1e12:.2f} TFLOP" if count >= 1e11 else f"{count / 1e9:.2f} GFLOP"


def peak_memory(device: torch.device) -> str:
    if device.type != "cuda":
        return "n/a (CPU)"
    return f"{torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB"


def run(
    device: torch.device, shapes: Shapes, *, steps: int, use_torch_compile: bool
) -> list[tuple[str, str]]:
    on_gpu = device.type == "cuda"
    dtype = torch.float16 if on_gpu else torch.float32
    vae_dtype = torch.bfloat16 if on_gpu else torch.float32
    warmup, repeat = (3, 10) if on_gpu else (1, 3)
    if on_gpu:
        torch.backends.cudnn.benchmark = True
    rate, rate_what = matmul_rate(device, dtype)
    rows = [(f"matmul rate ({rate_what})", f"{_flops(rate)}/s")]

    denoiser, resampler = build_denoiser(shapes, device, dtype)
    if on_gpu:
        # Building in fp32 peaks far above what the worker holds; measure from here on,
        # with every model staying resident as in the worker.
        torch.cuda.reset_peak_memory_stats(device)
    denoiser.scheduler.set_timesteps(steps, device=device)
    t = denoiser.scheduler.timesteps[0]
    latent = shapes.unet["sample_size"]
    with torch.inference_mode():
        conds = {
            batch: random_conditioning(shapes, resampler, batch, device, dtype) for batch in (1, 4)
        }
        samples = {
            batch: torch.randn(batch, 4, latent, latent, device=device, dtype=dtype)
            for batch in (1, 4)
        }
        # Counted eagerly: a compiled graph hides its operations from the counter.
        step_flops = flops_of(lambda: denoiser.predict(samples[1], t, conds[1], 5.0))
        if use_torch_compile:
            denoiser.unet.compile()
            denoiser.controlnet.compile()
            warmup += 3  # the first calls compile
        step_seconds = {
            batch: timed(
                lambda b=batch: denoiser.predict(samples[b], t, conds[b], 5.0),
                device,
                warmup=warmup,
                repeat=repeat,
            )
            for batch in (1, 4)
        }

        torch.manual_seed(0)
        with torch.device(device):
            vae = AutoencoderKL(**shapes.vae).to(vae_dtype).eval()
        if on_gpu:
            vae.to(memory_format=torch.channels_last)
        decode_seconds = {}
        for batch in (1, 4):
            latents = torch.randn(batch, 4, latent, latent, device=device)
            decode_seconds[batch] = timed(
                lambda x=latents: decode_latents(vae, x),
                device,
                warmup=1,
                repeat=max(1, repeat // 3),
            )

        upscaler = build_upscaler(shapes, device)
        image = torch.rand(1, 3, shapes.upscale_input, shapes.upscale_input)
        upscale_flops = flops_of(lambda: upscaler.upscale_tensor(image))
        if use_torch_compile:
            upscaler.compile()
        upscale_seconds = timed(
            lambda: upscaler.upscale_tensor(image),
            device,
            warmup=3 if use_torch_compile else 1,
            repeat=max(1, repeat // 3),
        )

    per_headshot = {
        batch: (steps * step_seconds[batch] + decode_seconds[batch]) / batch for batch in (1, 4)
    }
    size = shapes.size
    rows += [
        ("InstantID step, batch 1 (guidance batch 2)", f"{step_seconds[1] * 1e3:.1f} ms"),
        (
            "InstantID step, batch 4 (guidance batch 8)",
            f"{step_seconds[4] * 1e3:.1f} ms ({step_seconds[4] / 4 * 1e3:.1f} ms an image)",
        ),
        ("FLOPs of one step, batch 1", _flops(step_flops)),
        (f"VAE decode, 1 image at {size} px", f"{decode_seconds[1] * 1e3:.1f} ms"),
        (
            "VAE decode, 4 images",
            f"{decode_seconds[4] * 1e3:.1f} ms ({decode_seconds[4] / 4 * 1e3:.1f} ms an image)",
        ),
        (f"headshot at {size} px, {steps} steps, batch 1", f"{per_headshot[1]:.2f} s"),
        (f"headshot at {size} px, {steps} steps, batch 4 (amortised)", f"{per_headshot[4]:.2f} s"),
        (
            "floor at measured matmul rate (steps only)",
            f"{steps * step_flops / rate:.2f} s a headshot",
        ),
        (
            f"x4 upscale of {shapes.upscale_input} px to {4 * shapes.upscale_input} px",
            f"{upscale_seconds:.2f} s",
        ),
        (
            "upscale floor at measured matmul rate",
            f"{upscale_flops / rate:.3f} s ({_flops(upscale_flops)})",
        ),
        ("peak GPU memory (all models resident)", peak_memory(device)),
    ]
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_device = "cuda:0" if torch.cuda.is_available() else "cpu"
    parser.add_argument("--device", default=default_device)
    parser.add_argument("--tiny", action="store_true", help="tiny-set shapes (always on a CPU)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile the UNet, IdentityNet and upscaler"
    )
    args = parser.parse_args(argv)
    diffusers_logging.set_verbosity_error()  # casting random models warns on every .to(dtype)
    device = torch.device(args.device)
    shapes = TINY if args.tiny or device.type == "cpu" else FULL
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    which = (
        "tiny set shapes" if shapes is TINY else "full-size SDXL + IdentityNet + Real-ESRGAN x4plus"
    )
    print(f"{name} ({device}); {which}, random weights; compile={'on' if args.compile else 'off'}")
    rows = run(device, shapes, steps=args.steps, use_torch_compile=args.compile)
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")


if __name__ == "__main__":
    main()
