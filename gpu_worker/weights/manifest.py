"""The real model set: pinned sources and checksums, laid out as `layout.py` describes.

Revisions are immutable commits (never ``main``). Checksums are SHA-256 of the whole
file (for Hugging Face LFS files, the LFS object id), sizes are in bytes; the worker
checks every size at start and hashes on request (``gpu_worker --verify-weights``).

Where the figures come from: public download manifests that pin the same revisions.
SDXL's four weight files (SHA-256 and sizes) agree across several independent pinned
manifests; its small config and tokenizer files (SHA-256 and sizes) come from one
manifest pinned at the same commit. The InstantID, antelopev2 and Real-ESRGAN figures
were cross-checked against at least two pinned download scripts each. The one size no
public source gives is InstantID's ControlNet ``config.json``: it is always hashed
(a few kilobytes), so a wrong file is caught all the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpu_worker.weights.layout import ANTELOPEV2_FILES, SDXL_BASE_FILES


@dataclass(frozen=True)
class WeightFile:
    dest: str  # relative to the set's root directory
    url: str
    source: str  # human-readable provenance: repo@revision or release tag
    sha256: str | None
    size: int | None = None


def _hf(repo: str, revision: str, path: str) -> str:
    return f"https://huggingface.co/{repo}/resolve/{revision}/{path}"


SDXL_REPO = "stabilityai/stable-diffusion-xl-base-1.0"
SDXL_REVISION = "462165984030d82259a11f4367a4eed129e94a7b"
# path -> (size in bytes, SHA-256)
SDXL_FILES = {
    "model_index.json": (
        609,
        "6d7b93508390ab91ac5bfbe4aeb4dc2d83f7bb1b05fb069d714b5b0c75f70d44",
    ),
    "scheduler/scheduler_config.json": (
        479,
        "af3e45a949aff8b8341ab8b811429ec03fee857a700a1d9477363e4fff9666e2",
    ),
    "text_encoder/config.json": (
        565,
        "39b8b2e4b1949e36969caa425b6c81c68bace99198dd9078ce05d16ad401fe7f",
    ),
    "text_encoder/model.fp16.safetensors": (
        246_144_152,
        "660c6f5b1abae9dc498ac2d21e1347d2abdb0cf6c0c0c8576cd796491d9a6cdd",
    ),
    "text_encoder_2/config.json": (
        575,
        "a892d1c3a69a7e9247a24de2bc1d5891e3109a54696e53be20093af671072c34",
    ),
    "text_encoder_2/model.fp16.safetensors": (
        1_389_382_176,
        "ec310df2af79c318e24d20511b601a591ca8cd4f1fce1d8dff822a356bcdb1f4",
    ),
    "tokenizer/merges.txt": (
        524_619,
        "9fd691f7c8039210e0fced15865466c65820d09b63988b0174bfe25de299051a",
    ),
    "tokenizer/special_tokens_map.json": (
        472,
        "c4864a9376a8401918425bed71fc14fc0e81f9b59ec45c1cf96cccb2df508eac",
    ),
    "tokenizer/tokenizer_config.json": (
        737,
        "19d7b034cb0cc3ce9766c2231373ab8aa8991fc72e2c8f76558bfaae3de0d563",
    ),
    "tokenizer/vocab.json": (
        1_059_962,
        "e089ad92ba36837a0d31433e555c8f45fe601ab5c221d4f607ded32d9f7a4349",
    ),
    "tokenizer_2/merges.txt": (
        524_619,
        "9fd691f7c8039210e0fced15865466c65820d09b63988b0174bfe25de299051a",
    ),
    "tokenizer_2/special_tokens_map.json": (
        460,
        "f118ab3a983206e4f32583448de6bd6aae4ee21869135cef1f5848a753cdaab6",
    ),
    "tokenizer_2/tokenizer_config.json": (
        725,
        "c9d23941f76a41cbd50eda9290f57be7828f0a7a677939e9ef181f7e12bd1bdf",
    ),
    "tokenizer_2/vocab.json": (
        1_059_962,
        "e089ad92ba36837a0d31433e555c8f45fe601ab5c221d4f607ded32d9f7a4349",
    ),
    "unet/config.json": (
        1_680,
        "30ebc70750223e59006f7f2b4e1e6c102570aa19a9c4ae3e1fbe7591332dbae6",
    ),
    "unet/diffusion_pytorch_model.fp16.safetensors": (
        5_135_149_760,
        "83e012a805b84c7ca28e5646747c90a243c65c8ba4f070e2d7ddc9d74661e139",
    ),
    "vae/config.json": (
        642,
        "0b331c8ac22ded5f9997a144a575c1d113d6169aff262c353f39015bd24a6264",
    ),
    "vae/diffusion_pytorch_model.fp16.safetensors": (
        167_335_342,
        "bcb60880a46b63dea58e9bc591abe15f8350bde47b405f9c38f4be70c6161e68",
    ),
}

INSTANTID_REPO = "InstantX/InstantID"
INSTANTID_REVISION = "57b32dfee076092ad2930c71fd6d439c2c3b1820"

# The InstantX demo Space ships antelopev2 but Spaces are awkward to pin; this model repo
# mirrors the same five files (checksums below match insightface's antelopev2.zip members).
ANTELOPEV2_REPO = "MonsterMMORPG/InstantID_Models"
ANTELOPEV2_REVISION = "397cafa6d8310e96e302e96528c20a4c92a884f2"
ANTELOPEV2_FILES_PINNED = {
    "1k3d68.onnx": (
        143_607_619,
        "df5c06b8a0c12e422b2ed8947b8869faa4105387f199c477af038aa01f9a45cc",
    ),
    "2d106det.onnx": (
        5_030_888,
        "f001b856447c413801ef5c42091ed0cd516fcd21f2d6b79635b1e733a7109dbf",
    ),
    "genderage.onnx": (
        1_322_532,
        "4fde69b1c810857b88c64a335084f1c3fe8f01246c9a191b48c7bb756d6652fb",
    ),
    "glintr100.onnx": (
        260_665_334,
        "4ab1d6435d639628a6f3e5008dd4f929edf4c4124b1a7169e1048f9fef534cdf",
    ),
    "scrfd_10g_bnkps.onnx": (
        16_923_827,
        "5838f7fe053675b1c7a08b633df49e7af5495cee0493c7dcf6697200b85b5b91",
    ),
}

REAL_ESRGAN_TAG = "v0.1.0"


def real_set_files() -> list[WeightFile]:
    sdxl = [
        WeightFile(
            dest=f"sdxl-base/{path}",
            url=_hf(SDXL_REPO, SDXL_REVISION, path),
            source=f"{SDXL_REPO}@{SDXL_REVISION[:12]}",
            sha256=SDXL_FILES[path][1],
            size=SDXL_FILES[path][0],
        )
        for path in SDXL_BASE_FILES
    ]
    instantid_source = f"{INSTANTID_REPO}@{INSTANTID_REVISION[:12]}"
    instantid = [
        WeightFile(
            dest="instantid/ControlNetModel/config.json",
            url=_hf(INSTANTID_REPO, INSTANTID_REVISION, "ControlNetModel/config.json"),
            source=instantid_source,
            sha256="2480c42f363d712faae8d0e17cb850a5d1e4cafc232fbd022b1d43eee45234eb",
        ),
        WeightFile(
            dest="instantid/ControlNetModel/diffusion_pytorch_model.safetensors",
            url=_hf(
                INSTANTID_REPO,
                INSTANTID_REVISION,
                "ControlNetModel/diffusion_pytorch_model.safetensors",
            ),
            source=instantid_source,
            sha256="c8127be9f174101ebdafee9964d856b49b634435cf6daa396d3f593cf0bbbb05",
            size=2_502_139_136,
        ),
        WeightFile(
            dest="instantid/ip-adapter.bin",
            url=_hf(INSTANTID_REPO, INSTANTID_REVISION, "ip-adapter.bin"),
            source=instantid_source,
            sha256="02b3618e36d803784166660520098089a81388e61a93ef8002aa79a5b1c546e1",
            size=1_691_134_141,
        ),
    ]
    antelopev2 = [
        WeightFile(
            dest=f"insightface/models/antelopev2/{name}",
            url=_hf(ANTELOPEV2_REPO, ANTELOPEV2_REVISION, f"models/antelopev2/{name}"),
            source=f"{ANTELOPEV2_REPO}@{ANTELOPEV2_REVISION[:12]}",
            sha256=ANTELOPEV2_FILES_PINNED[name][1],
            size=ANTELOPEV2_FILES_PINNED[name][0],
        )
        for name in ANTELOPEV2_FILES
    ]
    upscaler = WeightFile(
        dest="realesrgan/RealESRGAN_x4plus.pth",
        url=(
            "https://github.com/xinntao/Real-ESRGAN/releases/download/"
            f"{REAL_ESRGAN_TAG}/RealESRGAN_x4plus.pth"
        ),
        source=f"xinntao/Real-ESRGAN release {REAL_ESRGAN_TAG}",
        sha256="4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1",
        size=67_040_989,
    )
    return [*sdxl, *instantid, *antelopev2, upscaler]
