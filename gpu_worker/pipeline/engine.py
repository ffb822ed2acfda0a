"""The engine the worker calls: models loaded once, then faces, headshots, likeness, upscale.

engine = HeadshotEngine.load(model_dir=Path(...), model_set="real", device="cuda:0")
face = engine.analyze_face(selfie)                  # NoFaceFound / FaceTooSmall
images = engine.generate(face=face, prompt=..., negative_prompt=..., seeds=[...])
score = engine.likeness(face=face, image=images[0])
big = engine.upscale(images[0])                     # 4096 px for premium tiers
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont

from gpu_worker.pipeline.device import device_works, free_memory, is_out_of_memory, select_device
from gpu_worker.pipeline.errors import FaceTooSmall, NoFaceFound, PipelineError
from gpu_worker.pipeline.faces import Face, FaceAnalyzer, cosine_similarity
from gpu_worker.pipeline.instantid import InstantIDGenerator, draw_keypoints, frame_keypoints
from gpu_worker.pipeline.upscale import Upscaler
from gpu_worker.tiny import ensure_tiny_set
from gpu_worker.weights.layout import MODEL_SETS
from gpu_worker.weights.verify import require_real_set

__all__ = ["Face", "FaceTooSmall", "HeadshotEngine", "NoFaceFound", "PipelineError"]

logger = logging.getLogger("gpu_worker")

OUTPUT_SIZE = 1024
IDENTITYNET_SCALE = 0.8
IP_ADAPTER_SCALE = 0.8
TINY_STAMP = "TINY DEMO MODEL"
# The tiny upscaler works on a copy this small and the result is resized, as the tiny
# UNet works at a small latent size: a 1024 px input would take half a minute on a CPU.
TINY_UPSCALE_INPUT = 256


@contextmanager
def stage(name: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    logger.info("%s: %.3f s", name, time.perf_counter() - start)


def stamp_tiny(image: Image.Image) -> Image.Image:
    """A banner across the bottom that no one can miss or mistake for a real result."""
    stamped = image.convert("RGB")
    width, height = stamped.size
    band = max(12, height // 10)
    draw = ImageDraw.Draw(stamped)
    draw.rectangle((0, height - band, width, height), fill=(200, 0, 0))
    font = ImageFont.load_default(size=band * 0.6)
    draw.text(
        (width / 2, height - band / 2), TINY_STAMP, fill=(255, 255, 255), font=font, anchor="mm"
    )
    return stamped


class _TinyTokenizerTruncation(logging.Filter):
    """Drops the tokenizers' truncation warnings on the demo set.

    Its tokenizers know single bytes only, so every style prompt is a few hundred tokens
    and is cut at CLIP's 77 on every call; the real vocabulary fits every prompt (a test
    checks it), so on the demo set the warning is noise about an artefact.
    """

    PHRASES = (
        "CLIP can only handle sequences up to",
        "Token indices sequence length is longer than the specified maximum",
    )

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(phrase in message for phrase in self.PHRASES)


# The loggers that say it: diffusers' SDXL ControlNet pipeline and transformers' tokenizers.
TRUNCATION_LOGGERS = (
    "diffusers.pipelines.controlnet.pipeline_controlnet_sd_xl",
    "transformers.tokenization_utils_base",
)


def quieten_tiny_tokenizers() -> None:
    for name in TRUNCATION_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, _TinyTokenizerTruncation) for f in target.filters):
            target.addFilter(_TinyTokenizerTruncation())


def to_pil(pixels: torch.Tensor) -> Image.Image:
    """(3, H, W) in [0, 1] -> RGB image."""
    array = (pixels.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    return Image.fromarray(array)


class HeadshotEngine:
    def __init__(
        self,
        *,
        faces: FaceAnalyzer,
        generator: InstantIDGenerator,
        upscaler: Upscaler,
        device: str,
        is_tiny: bool,
    ) -> None:
        self.faces = faces
        self.generator = generator
        self.upscaler = upscaler
        self.device = device
        self.is_tiny = is_tiny
        # The largest batch that fitted on this device, so that the next style starts
        # there instead of paying for another out-of-memory error first.
        self.batch_that_fits: int | None = None

    @classmethod
    def load(
        cls,
        *,
        model_dir: Path,
        model_set: str,
        device: str,
        base_checkpoint: Path | None = None,
        use_torch_compile: bool = False,
        verify_weights: bool = False,
    ) -> HeadshotEngine:
        """Load every model once.

        ``base_checkpoint`` swaps in another SDXL (a diffusers folder or one .safetensors
        file); ``use_torch_compile`` compiles the UNet, IdentityNet and upscaler (the first
        call of each pays for it); ``verify_weights`` hashes every real file against its
        pin instead of checking sizes only.
        """
        if model_set not in MODEL_SETS:
            raise ValueError(f"model_set must be one of {MODEL_SETS}, not {model_set!r}")
        with stage(f"load {model_set} model set on {device}"):
            models = (
                ensure_tiny_set(model_dir)
                if model_set == "tiny"
                else require_real_set(model_dir, verify_hashes=verify_weights)
            )
            if models.is_tiny:
                quieten_tiny_tokenizers()
            torch_device = select_device(device)
            on_gpu = torch_device.type == "cuda"
            if on_gpu:
                torch.backends.cudnn.benchmark = True
            with stage("load face analysis"):
                faces = FaceAnalyzer(models.antelopev2, device=device)
            with stage("load InstantID"):
                generator = InstantIDGenerator.load(
                    base=base_checkpoint or models.sdxl_base,
                    base_config=models.sdxl_base,
                    controlnet=models.controlnet,
                    ip_adapter=models.ip_adapter,
                    device=torch_device,
                    dtype=torch.float16 if on_gpu else torch.float32,
                    # SDXL's VAE overflows in fp16; bf16 keeps fp32's range at fp16's speed.
                    vae_dtype=torch.bfloat16 if on_gpu else torch.float32,
                    identitynet_scale=IDENTITYNET_SCALE,
                    ip_adapter_scale=IP_ADAPTER_SCALE,
                )
                if use_torch_compile:
                    generator.compile()
            with stage("load upscaler"):
                upscaler = Upscaler.from_file(models.upscaler, device=torch_device)
                if use_torch_compile:
                    upscaler.compile()
        return cls(
            faces=faces,
            generator=generator,
            upscaler=upscaler,
            device=device,
            is_tiny=models.is_tiny,
        )

    def analyze_face(self, image: Image.Image) -> Face:
        with stage("analyze face"):
            return self.faces.analyze(image)

    def generate(
        self,
        *,
        face: Face,
        prompt: str,
        negative_prompt: str,
        seeds: list[int],
        num_inference_steps: int = 30,
        guidance_scale: float = 5.0,
        on_image_done: Callable[[int], None] | None = None,
    ) -> list[Image.Image]:
        """One 1024 px headshot per seed, from one batched run (smaller batches after a CUDA OOM).

        Each image carries its seed in ``image.info["seed"]``.
        """
        size = self.generator.size
        keypoints = draw_keypoints(frame_keypoints(face.bbox, face.kps, size), size)
        images: list[Image.Image] = []
        batch = min(len(seeds), self.batch_that_fits or len(seeds))
        with stage(f"generate {len(seeds)} headshots"):
            while len(images) < len(seeds):
                chunk = seeds[len(images) : len(images) + batch]
                try:
                    pixels = self.generator.generate(
                        embedding=face.embedding,
                        keypoints=keypoints,
                        prompt=prompt,
                        negative_prompt=negative_prompt,
                        seeds=chunk,
                        steps=num_inference_steps,
                        guidance=guidance_scale,
                        log_stage=stage,
                    )
                except torch.cuda.OutOfMemoryError:
                    if batch == 1:
                        raise
                    pixels = None
                if pixels is None:
                    # Out of the handler, the failed batch's tensors are garbage.
                    free_memory(self.generator.device)
                    batch //= 2
                    self.batch_that_fits = batch
                    logger.warning("CUDA out of memory; retrying in batches of %d", batch)
                    continue
                for seed, image_pixels in zip(chunk, pixels, strict=True):
                    images.append(self._finish(image_pixels, seed))
                    if on_image_done is not None:
                        on_image_done(len(images) - 1)
        return images

    def _finish(self, pixels: torch.Tensor, seed: int) -> Image.Image:
        image = to_pil(pixels)
        if image.size != (OUTPUT_SIZE, OUTPUT_SIZE):
            image = image.resize((OUTPUT_SIZE, OUTPUT_SIZE), Image.Resampling.LANCZOS)
        if self.is_tiny:
            image = stamp_tiny(image)
        image.info["seed"] = seed
        return image

    def likeness(self, *, face: Face, image: Image.Image) -> float | None:
        """Cosine similarity of the identity embeddings; None when ``image`` shows no face."""
        with stage("likeness"):
            found = self._after_out_of_memory_once(
                lambda: self.faces.largest_face(image), what="likeness"
            )
        return None if found is None else cosine_similarity(face.embedding, found.embedding)

    def upscale(self, image: Image.Image) -> Image.Image:
        scale = self.upscaler.scale
        with stage(f"upscale x{scale}"):
            if not self.is_tiny:
                return self._upscale_fitting(image)
            work = image.copy()
            work.thumbnail((TINY_UPSCALE_INPUT, TINY_UPSCALE_INPUT), Image.Resampling.LANCZOS)
            upscaled = self._upscale_fitting(work)
            target = (image.width * scale, image.height * scale)
            return stamp_tiny(upscaled.resize(target, Image.Resampling.LANCZOS))

    def _upscale_fitting(self, image: Image.Image) -> Image.Image:
        try:
            return self.upscaler.upscale(image)
        except torch.cuda.OutOfMemoryError:
            if not self.upscaler.can_shrink_tiles():
                raise
        # Out of the handler, the failed tiles' tensors are garbage.
        free_memory(self.upscaler.device)
        self.upscaler.shrink_tiles()
        logger.warning(
            "CUDA out of memory in the upscale; from now on %d px tiles, %d at a time",
            self.upscaler.tile,
            self.upscaler.tile_batch,
        )
        return self._upscale_fitting(image)

    def _after_out_of_memory_once(self, work: Callable[[], object], *, what: str):
        """``work()``, tried again once after an out-of-memory error and freeing memory.

        The face models run in ONNX Runtime, whose arena cannot grow while torch's
        caching allocator holds the memory the diffusion models let go of.
        """
        try:
            return work()
        except Exception as error:
            if not is_out_of_memory(error):
                raise
        free_memory(self.generator.device)
        logger.warning("out of memory in %s; memory freed, trying once more", what)
        return work()

    def device_works(self) -> bool:
        """Whether the device still runs kernels (False after a sticky CUDA error)."""
        return device_works(self.generator.device)
