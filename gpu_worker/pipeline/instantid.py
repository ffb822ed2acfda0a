"""InstantID on SDXL, built on diffusers' SDXL ControlNet pipeline components.

How InstantID steers SDXL:
- a Resampler turns the 512-d ArcFace embedding of the selfie into 16 "face tokens" in
  the UNet's cross-attention space;
- every cross-attention layer of the UNet gets a second, decoupled attention over those
  face tokens (IP-Adapter), added with a settable scale;
- IdentityNet, a ControlNet, sees a drawing of the face's five keypoints and is
  conditioned on the face tokens alone (not on the prompt);
- classifier-free guidance uses a zero face embedding on the unconditional branch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from diffusers import (
    AutoencoderKL,
    ControlNetModel,
    EulerDiscreteScheduler,
    StableDiffusionXLControlNetPipeline,
    UNet2DConditionModel,
)
from diffusers.models.attention_processor import Attention
from PIL import Image
from torch import nn

# Where the face sits in a generated headshot; the portal cuts its crops around it.
from generation.framing import FACE_CENTER_X, FACE_CENTER_Y, FACE_WIDTH_SHARE
from gpu_worker.pipeline.device import free_memory

FACE_TOKENS = 16
FACE_EMBEDDING_DIM = 512
RESAMPLER_HEAD_DIM = 64


# IdentityNet was trained on keypoints drawn this way (colours per point, limbs to the nose).
KEYPOINT_COLORS = ((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255))
NOSE = 2


# --- Resampler: face embedding -> face tokens -------------------------------------------


class PerceiverAttention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        inner = heads * RESAMPLER_HEAD_DIM
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, features: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        features = self.norm1(features)
        latents = self.norm2(latents)
        batch, queries, _ = latents.shape
        # The learned queries attend to the image features and to themselves.
        keys, values = self.to_kv(torch.cat([features, latents], dim=1)).chunk(2, dim=-1)
        out = F.scaled_dot_product_attention(
            _split_heads(self.to_q(latents), self.heads),
            _split_heads(keys, self.heads),
            _split_heads(values, self.heads),
        )
        return self.to_out(out.transpose(1, 2).reshape(batch, queries, -1))


def _split_heads(tensor: torch.Tensor, heads: int) -> torch.Tensor:
    batch, length, width = tensor.shape
    return tensor.view(batch, length, heads, width // heads).transpose(1, 2)


def _feed_forward(dim: int, mult: int) -> nn.Sequential:
    return nn.Sequential(
        nn.LayerNorm(dim),
        nn.Linear(dim, dim * mult, bias=False),
        nn.GELU(),
        nn.Linear(dim * mult, dim, bias=False),
    )


class Resampler(nn.Module):
    """Perceiver resampler with the parameter names of InstantID's ``image_proj``."""

    def __init__(
        self,
        *,
        dim: int,
        depth: int,
        heads: int,
        num_queries: int,
        embedding_dim: int,
        output_dim: int,
        ff_mult: int,
    ) -> None:
        super().__init__()
        self.latents = nn.Parameter(torch.randn(1, num_queries, dim) / dim**0.5)
        self.proj_in = nn.Linear(embedding_dim, dim)
        self.proj_out = nn.Linear(dim, output_dim)
        self.norm_out = nn.LayerNorm(output_dim)
        self.layers = nn.ModuleList(
            nn.ModuleList([PerceiverAttention(dim, heads), _feed_forward(dim, ff_mult)])
            for _ in range(depth)
        )

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        features = self.proj_in(embeddings)
        latents = self.latents.to(features.dtype).expand(features.shape[0], -1, -1)
        for attention, feed_forward in self.layers:
            latents = attention(features, latents) + latents
            latents = feed_forward(latents) + latents
        return self.norm_out(self.proj_out(latents))

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> Resampler:
        """Rebuild the Resampler whose shapes ``state`` holds, and load it (strictly)."""
        _, num_queries, dim = state["latents"].shape
        depth = len({key.split(".")[1] for key in state if key.startswith("layers.")})
        model = cls(
            dim=dim,
            depth=depth,
            heads=state["layers.0.0.to_q.weight"].shape[0] // RESAMPLER_HEAD_DIM,
            num_queries=num_queries,
            embedding_dim=state["proj_in.weight"].shape[1],
            output_dim=state["proj_out.weight"].shape[0],
            ff_mult=state["layers.0.1.1.weight"].shape[0] // dim,
        )
        model.load_state_dict(state)
        return model


# --- IP-Adapter attention over the face tokens -----------------------------------------


class FaceAttnProcessor(nn.Module):
    """Cross-attention to the prompt plus a decoupled, scaled attention to the face tokens.

    ``encoder_hidden_states`` carries the prompt tokens followed by the face tokens.
    """

    def __init__(self, *, cross_attention_dim: int, hidden_size: int, scale: float) -> None:
        super().__init__()
        self.scale = scale
        self.to_k_ip = nn.Linear(cross_attention_dim, hidden_size, bias=False)
        self.to_v_ip = nn.Linear(cross_attention_dim, hidden_size, bias=False)

    def forward(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if attention_mask is not None:
            raise ValueError("InstantID's face attention takes no attention mask")
        text = encoder_hidden_states[:, :-FACE_TOKENS]
        face = encoder_hidden_states[:, -FACE_TOKENS:]
        batch = hidden_states.shape[0]
        query = _split_heads(attn.to_q(hidden_states), attn.heads)
        out = F.scaled_dot_product_attention(
            query,
            _split_heads(attn.to_k(text), attn.heads),
            _split_heads(attn.to_v(text), attn.heads),
        )
        face_out = F.scaled_dot_product_attention(
            query,
            _split_heads(self.to_k_ip(face), attn.heads),
            _split_heads(self.to_v_ip(face), attn.heads),
        )
        out = (
            (out + self.scale * face_out)
            .transpose(1, 2)
            .reshape(batch, -1, query.shape[1] * query.shape[3])
        )
        return attn.to_out[1](attn.to_out[0](out))


def cross_attention_layers(unet: UNet2DConditionModel) -> list[tuple[int, str, Attention]]:
    """The UNet's cross-attention layers, numbered as InstantID's ``ip_adapter`` keys are.

    The checkpoint numbers each layer by its position among *all* the UNet's attention
    processors (self-attention included), in the UNet's module order, so SDXL's 70
    cross-attention layers are 1, 3, ..., 139.
    """
    layers = []
    for index, name in enumerate(unet.attn_processors):
        if name.endswith("attn2.processor"):
            module_name = name.removesuffix(".processor")
            attn = unet.get_submodule(module_name)
            if attn.group_norm is not None or attn.spatial_norm is not None or attn.norm_cross:
                raise ValueError(f"{module_name} is not an SDXL-style cross-attention layer")
            layers.append((index, name, attn))
    return layers


def install_face_adapter(
    unet: UNet2DConditionModel, ip_state: dict[str, torch.Tensor], *, scale: float
) -> list[FaceAttnProcessor]:
    remaining = dict(ip_state)
    processors = dict(unet.attn_processors)
    installed = []
    for index, name, attn in cross_attention_layers(unet):
        processor = FaceAttnProcessor(
            cross_attention_dim=attn.to_k.in_features,
            hidden_size=attn.to_k.out_features,
            scale=scale,
        )
        try:
            weights = {
                part: remaining.pop(f"{index}.{part}")
                for part in ("to_k_ip.weight", "to_v_ip.weight")
            }
        except KeyError as missing:
            raise ValueError(
                f"ip-adapter.bin does not fit this UNet: no {missing} weight"
            ) from None
        processor.load_state_dict(weights)
        processors[name] = processor.to(device=unet.device, dtype=unet.dtype)
        installed.append(processor)
    if remaining:
        raise ValueError(
            f"ip-adapter.bin has weights for layers this UNet lacks: {sorted(remaining)[:4]}"
        )
    unet.set_attn_processor(processors)
    return installed


def load_ip_adapter(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The (image_proj, ip_adapter) state dicts; ``weights_only`` refuses pickled code."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not {"image_proj", "ip_adapter"} <= set(checkpoint):
        raise ValueError(
            f"{path} is not an InstantID ip-adapter checkpoint: keys {sorted(checkpoint)}"
        )
    return checkpoint["image_proj"], checkpoint["ip_adapter"]


# --- Keypoint image for IdentityNet ------------------------------------------------------


def frame_keypoints(
    bbox: tuple[float, float, float, float], kps: np.ndarray, size: int
) -> np.ndarray:
    """Map the selfie's five keypoints into a headshot-framed square of ``size`` pixels.

    Keeps the pose (the keypoints' relative layout) and fixes the framing, whatever the
    crop of the upload.
    """
    x0, y0, x1, y1 = bbox
    scale = FACE_WIDTH_SHARE * size / max(x1 - x0, y1 - y0)
    center = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    return (np.asarray(kps, dtype=np.float64) - center) * scale + np.array(
        [FACE_CENTER_X * size, FACE_CENTER_Y * size]
    )


def draw_keypoints(kps: np.ndarray, size: int) -> Image.Image:
    """The IdentityNet condition: limbs from each keypoint to the nose, then dots."""
    unit = size / 1024
    limb_width = max(1, round(4 * unit))
    radius = max(1, round(10 * unit))
    canvas = np.zeros((size, size, 3), dtype=np.uint8)
    for point in (0, 1, 3, 4):
        (xa, ya), (xb, yb) = kps[point], kps[NOSE]
        polygon = cv2.ellipse2Poly(
            (round((xa + xb) / 2), round((ya + yb) / 2)),
            (round(math.hypot(xa - xb, ya - yb) / 2), limb_width),
            round(math.degrees(math.atan2(ya - yb, xa - xb))),
            0,
            360,
            1,
        )
        cv2.fillConvexPoly(canvas, polygon, KEYPOINT_COLORS[point])
    canvas = (canvas * 0.6).astype(np.uint8)
    for point, (x, y) in enumerate(kps):
        cv2.circle(canvas, (round(x), round(y)), radius, KEYPOINT_COLORS[point], -1)
    return Image.fromarray(canvas)


# --- Denoising ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Conditioning:
    """Everything one denoising step needs; the unconditional half of each batch comes first."""

    prompt_embeds: torch.Tensor  # (2B, text tokens + face tokens, D)
    face_tokens: torch.Tensor  # (2B, 16, D): IdentityNet's only cross-attention input
    pooled: torch.Tensor  # (2B, P)
    time_ids: torch.Tensor  # (2B, 6)
    control_image: torch.Tensor  # (2B, 3, H, W) in [0, 1]

    @property
    def batch(self) -> int:
        return self.pooled.shape[0] // 2


class IdentityDenoiser:
    """UNet + IdentityNet under classifier-free guidance, stepped by an Euler scheduler."""

    def __init__(
        self,
        unet: UNet2DConditionModel,
        controlnet: ControlNetModel,
        scheduler: EulerDiscreteScheduler,
        *,
        identitynet_scale: float,
    ) -> None:
        self.unet = unet
        self.controlnet = controlnet
        self.scheduler = scheduler
        self.identitynet_scale = identitynet_scale

    def predict(
        self, latents: torch.Tensor, t: torch.Tensor, cond: Conditioning, guidance: float
    ) -> torch.Tensor:
        sample = self.scheduler.scale_model_input(torch.cat([latents, latents]), t)
        added = {"text_embeds": cond.pooled, "time_ids": cond.time_ids}
        down, mid = self.controlnet(
            sample,
            t,
            encoder_hidden_states=cond.face_tokens,
            controlnet_cond=cond.control_image,
            conditioning_scale=self.identitynet_scale,
            added_cond_kwargs=added,
            return_dict=False,
        )
        noise = self.unet(
            sample,
            t,
            encoder_hidden_states=cond.prompt_embeds,
            down_block_additional_residuals=down,
            mid_block_additional_residual=mid,
            added_cond_kwargs=added,
            return_dict=False,
        )[0]
        unconditional, conditional = noise.chunk(2)
        return unconditional + guidance * (conditional - unconditional)

    def run(
        self, noise: torch.Tensor, cond: Conditioning, *, steps: int, guidance: float
    ) -> torch.Tensor:
        self.scheduler.set_timesteps(steps, device=noise.device)
        latents = noise * self.scheduler.init_noise_sigma
        for t in self.scheduler.timesteps:
            prediction = self.predict(latents, t, cond, guidance)
            latents = self.scheduler.step(prediction, t, latents, return_dict=False)[0]
        return latents


def decode_latents(vae: AutoencoderKL, latents: torch.Tensor) -> torch.Tensor:
    """Latents to images in [0, 1], float32."""
    latents = latents.to(vae.dtype) / vae.config.scaling_factor
    if getattr(vae.config, "shift_factor", None):
        latents = latents + vae.config.shift_factor
    images = vae.decode(latents, return_dict=False)[0]
    return ((images.float() + 1) / 2).clamp(0, 1)


def seeded_noise(seeds: list[int], shape: tuple[int, int, int]) -> torch.Tensor:
    """One CPU generator per seed: an image depends on its seed alone, not on its batch."""
    return torch.stack(
        [torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed)) for seed in seeds]
    )


# --- The whole generator ------------------------------------------------------------------


def weights_format(component: Path) -> tuple[str | None, bool]:
    """How one component folder's weights are stored: the variant ("fp16" for
    ``*.fp16.*`` and sharded ``*.fp16-00001-of-0000N.*``) and whether they are
    safetensors (else ``.bin``, which diffusers reads with ``weights_only``).

    diffusers must be told both: left to guess, it looks for a sharded ``.bin``
    folder's index under the safetensors name and fails.
    """
    names = [path.name for path in component.iterdir()] if component.is_dir() else []
    variant = "fp16" if any(".fp16." in name or ".fp16-" in name for name in names) else None
    return variant, any(name.endswith(".safetensors") for name in names)


def load_base_pipeline(
    base: Path, *, config_dir: Path, controlnet: ControlNetModel, dtype: torch.dtype
) -> StableDiffusionXLControlNetPipeline:
    """SDXL, or a fine-tune of it, in any of the forms fine-tunes are published in.

    A diffusers folder, sharded or not, fp16 variant or not, safetensors or ``.bin``;
    or one ``.safetensors`` file in the original (LDM) layout, whose shapes
    ``config_dir`` describes.
    """
    if base.is_file():
        if base.suffix != ".safetensors":
            raise ValueError(f"{base}: a single-file checkpoint must be a .safetensors file")
        return StableDiffusionXLControlNetPipeline.from_single_file(
            str(base),
            config=str(config_dir),
            controlnet=controlnet,
            dtype=dtype,
            local_files_only=True,
        )
    # The UNet and VAE are loaded on their own, each in its own format (a fine-tune may
    # ship a .bin UNet beside safetensors text encoders); the text encoders' loader
    # (transformers) finds either format by itself.
    diffusers_models = {}
    for name, model_class in (("unet", UNet2DConditionModel), ("vae", AutoencoderKL)):
        variant, safetensors = weights_format(base / name)
        diffusers_models[name] = model_class.from_pretrained(
            base / name,
            variant=variant,
            use_safetensors=safetensors,
            dtype=dtype,
            local_files_only=True,
        )
    return StableDiffusionXLControlNetPipeline.from_pretrained(
        base,
        controlnet=controlnet,
        **diffusers_models,
        dtype=dtype,
        variant=weights_format(base / "text_encoder")[0],
        local_files_only=True,
    )


class InstantIDGenerator:
    def __init__(
        self,
        pipe: StableDiffusionXLControlNetPipeline,
        resampler: Resampler,
        face_processors: list[FaceAttnProcessor],
        *,
        identitynet_scale: float,
    ) -> None:
        self.pipe = pipe
        self.resampler = resampler
        self.face_processors = face_processors
        # Set once a batched decode ran out of memory: the VAE's activations at 1024 px
        # grow with the batch far faster than the UNet's.
        self.decode_one_at_a_time = False
        self.denoiser = IdentityDenoiser(
            pipe.unet,
            pipe.controlnet,
            EulerDiscreteScheduler.from_config(pipe.scheduler.config),
            identitynet_scale=identitynet_scale,
        )

    @classmethod
    def load(
        cls,
        *,
        base: Path,
        base_config: Path,
        controlnet: Path,
        ip_adapter: Path,
        device: torch.device,
        dtype: torch.dtype,
        vae_dtype: torch.dtype,
        identitynet_scale: float,
        ip_adapter_scale: float,
    ) -> InstantIDGenerator:
        identitynet = ControlNetModel.from_pretrained(
            controlnet, dtype=dtype, local_files_only=True
        )
        pipe = load_base_pipeline(base, config_dir=base_config, controlnet=identitynet, dtype=dtype)
        image_proj, ip_layers = load_ip_adapter(ip_adapter)
        resampler = Resampler.from_state_dict(image_proj).to(dtype)
        if resampler.proj_out.out_features != pipe.unet.config.cross_attention_dim:
            raise ValueError(
                "ip-adapter.bin's face tokens do not match the UNet's cross-attention width"
            )
        processors = install_face_adapter(pipe.unet, ip_layers, scale=ip_adapter_scale)
        pipe.to(device)
        if vae_dtype != dtype:
            pipe.vae.to(dtype=vae_dtype)
        resampler.to(device).eval()
        if device.type == "cuda":
            for model in (pipe.unet, pipe.controlnet, pipe.vae):
                model.to(memory_format=torch.channels_last)
        return cls(pipe, resampler, processors, identitynet_scale=identitynet_scale)

    @property
    def device(self) -> torch.device:
        return self.pipe.unet.device

    @property
    def size(self) -> int:
        """The native square resolution: the UNet's sample size in pixels."""
        return self.pipe.unet.config.sample_size * self.pipe.vae_scale_factor

    def set_ip_adapter_scale(self, scale: float) -> None:
        for processor in self.face_processors:
            processor.scale = scale

    def compile(self) -> None:
        """torch.compile the UNet and IdentityNet in place (the first batch pays for it)."""
        self.pipe.unet.compile()
        self.pipe.controlnet.compile()

    def conditioning(
        self,
        *,
        embedding: np.ndarray,
        keypoints: Image.Image,
        prompt: str,
        negative_prompt: str,
        batch: int,
    ) -> Conditioning:
        pipe, device, dtype = self.pipe, self.device, self.pipe.unet.dtype
        prompt_embeds, negative_embeds, pooled, negative_pooled = pipe.encode_prompt(
            prompt=prompt,
            device=device,
            num_images_per_prompt=batch,
            do_classifier_free_guidance=True,
            negative_prompt=negative_prompt,
        )
        face = torch.as_tensor(embedding, dtype=dtype, device=device).reshape(1, 1, -1)
        # The unconditional branch sees the tokens of a zero embedding: "no particular face".
        no_face, this_face = self.resampler(torch.cat([torch.zeros_like(face), face])).chunk(2)
        face_tokens = torch.cat([no_face.expand(batch, -1, -1), this_face.expand(batch, -1, -1)])
        size = self.size
        time_ids = torch.tensor([[size, size, 0, 0, size, size]], dtype=dtype, device=device)
        control = torch.from_numpy(np.asarray(keypoints.convert("RGB"), dtype=np.float32) / 255)
        control = control.permute(2, 0, 1)[None].to(device=device, dtype=dtype)
        return Conditioning(
            prompt_embeds=torch.cat(
                [torch.cat([negative_embeds, prompt_embeds]), face_tokens], dim=1
            ),
            face_tokens=face_tokens,
            pooled=torch.cat([negative_pooled, pooled]),
            time_ids=time_ids.expand(2 * batch, -1),
            control_image=control.expand(2 * batch, -1, -1, -1),
        )

    @torch.inference_mode()
    def generate(
        self,
        *,
        embedding: np.ndarray,
        keypoints: Image.Image,
        prompt: str,
        negative_prompt: str,
        seeds: list[int],
        steps: int,
        guidance: float,
        log_stage: Callable[[str], AbstractContextManager[None]],
    ) -> torch.Tensor:
        """Images in [0, 1], (len(seeds), 3, size, size), from one batched denoising run."""
        with log_stage("encode prompt and face"):
            cond = self.conditioning(
                embedding=embedding,
                keypoints=keypoints,
                prompt=prompt,
                negative_prompt=negative_prompt,
                batch=len(seeds),
            )
        latent_size = self.size // self.pipe.vae_scale_factor
        noise = seeded_noise(seeds, (self.pipe.unet.config.in_channels, latent_size, latent_size))
        with log_stage(f"denoise {len(seeds)} x {steps} steps"):
            latents = self.denoiser.run(
                noise.to(self.device, self.pipe.unet.dtype), cond, steps=steps, guidance=guidance
            )
        with log_stage("decode"):
            return self.decode(latents)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents to images on the CPU; one at a time when a batched decode does not fit,
        so that an out-of-memory error here never throws the denoising away."""
        vae = self.pipe.vae
        if self.decode_one_at_a_time and latents.shape[0] > 1:
            return torch.cat([decode_latents(vae, one[None]).cpu() for one in latents])
        try:
            return decode_latents(vae, latents).cpu()
        except torch.cuda.OutOfMemoryError:
            if latents.shape[0] == 1:
                raise
        # Out of the handler, the failed decode's activations are garbage.
        free_memory(latents.device)
        self.decode_one_at_a_time = True
        return self.decode(latents)
