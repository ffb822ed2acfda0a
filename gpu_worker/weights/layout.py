"""Where the model files live on disk, for the real set and the tiny set alike.

Both sets share one layout, one directory per set under ``HEADSHOT_MODEL_DIR``, so that
the same loading code reads either and the tiny demo set can never be mistaken for (or
overwrite) the real one::

    <HEADSHOT_MODEL_DIR>/
      real/                                   # `manage.py fetch_models` downloads this
      tiny/                                   # `gpu_worker.tiny` builds this offline
        sdxl-base/                            # SDXL in diffusers layout, fp16 variant
          model_index.json
          scheduler/scheduler_config.json
          text_encoder/config.json            # CLIPTextModel (CLIP ViT-L)
          text_encoder/model.fp16.safetensors
          text_encoder_2/config.json          # CLIPTextModelWithProjection (OpenCLIP bigG)
          text_encoder_2/model.fp16.safetensors
          tokenizer/{vocab.json,merges.txt,tokenizer_config.json,special_tokens_map.json}
          tokenizer_2/{vocab.json,merges.txt,tokenizer_config.json,special_tokens_map.json}
          unet/config.json
          unet/diffusion_pytorch_model.fp16.safetensors
          vae/config.json
          vae/diffusion_pytorch_model.fp16.safetensors
        instantid/
          ControlNetModel/config.json         # IdentityNet
          ControlNetModel/diffusion_pytorch_model.safetensors
          ip-adapter.bin                      # {"image_proj": Resampler, "ip_adapter": N.to_k_ip/to_v_ip}
        insightface/models/antelopev2/        # FaceAnalysis model pack
          1k3d68.onnx 2d106det.onnx genderage.onnx glintr100.onnx scrfd_10g_bnkps.onnx
        realesrgan/RealESRGAN_x4plus.pth      # {"params_ema": RRDBNet, new key names}
        .tiny-complete                        # tiny set only: builder version marker

A different SDXL checkpoint (a fine-tune as one ``.safetensors`` file) can replace the base
weights; the configs and tokenizers under ``sdxl-base/`` still describe its shapes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

MODEL_SETS = ("real", "tiny")

SDXL_BASE_FILES = (
    "model_index.json",
    "scheduler/scheduler_config.json",
    "text_encoder/config.json",
    "text_encoder/model.fp16.safetensors",
    "text_encoder_2/config.json",
    "text_encoder_2/model.fp16.safetensors",
    *(
        f"{tokenizer}/{name}"
        for tokenizer in ("tokenizer", "tokenizer_2")
        for name in (
            "merges.txt",
            "special_tokens_map.json",
            "tokenizer_config.json",
            "vocab.json",
        )
    ),
    "unet/config.json",
    "unet/diffusion_pytorch_model.fp16.safetensors",
    "vae/config.json",
    "vae/diffusion_pytorch_model.fp16.safetensors",
)
ANTELOPEV2_FILES = (
    "1k3d68.onnx",
    "2d106det.onnx",
    "genderage.onnx",
    "glintr100.onnx",
    "scrfd_10g_bnkps.onnx",
)


# Files this small are hashed at every start whatever is asked: it costs nothing.
ALWAYS_HASHED_BELOW = 4 << 20


class ModelsMissing(RuntimeError):
    """The model set asked for is not (completely) on disk."""


class ModelsCorrupt(ModelsMissing):
    """A model file is on disk but is not the pinned one (truncated, corrupt, replaced).

    ``dest`` is the file's path inside the set, ``problem`` what is wrong with it and
    ``refetch_command`` the command that fetches it again (all in the message too).
    """

    def __init__(
        self, message: str, *, dest: str | None = None, problem: str | None = None
    ) -> None:
        super().__init__(message)
        self.dest = dest
        self.problem = problem

    @property
    def refetch_command(self) -> str | None:
        return None if self.dest is None else refetch_command(self.dest)


def refetch_command(dest: str) -> str:
    """The command that fetches one file of the real set again and checks its hash."""
    return f"python manage.py fetch_models --only {dest} --verify"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelSet:
    name: str
    root: Path

    @property
    def sdxl_base(self) -> Path:
        return self.root / "sdxl-base"

    @property
    def controlnet(self) -> Path:
        return self.root / "instantid" / "ControlNetModel"

    @property
    def ip_adapter(self) -> Path:
        return self.root / "instantid" / "ip-adapter.bin"

    @property
    def antelopev2(self) -> Path:
        return self.root / "insightface" / "models" / "antelopev2"

    @property
    def upscaler(self) -> Path:
        return self.root / "realesrgan" / "RealESRGAN_x4plus.pth"

    @property
    def is_tiny(self) -> bool:
        return self.name == "tiny"

    def required_files(self) -> list[Path]:
        return [
            *(self.sdxl_base / name for name in SDXL_BASE_FILES),
            self.controlnet / "config.json",
            self.controlnet / "diffusion_pytorch_model.safetensors",
            self.ip_adapter,
            *(self.antelopev2 / name for name in ANTELOPEV2_FILES),
            self.upscaler,
        ]

    def missing_files(self) -> list[Path]:
        return [path for path in self.required_files() if not path.is_file()]


def model_set(model_dir: Path, name: str) -> ModelSet:
    if name not in MODEL_SETS:
        raise ValueError(f"model set must be one of {MODEL_SETS}, not {name!r}")
    return ModelSet(name=name, root=Path(model_dir).expanduser() / name)
