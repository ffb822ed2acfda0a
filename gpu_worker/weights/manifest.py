"""The real model set: pinned sources and checksums, laid out as `layout.py` describes.

Revisions are immutable commits (never ``main``). Checksums are SHA-256 of the whole
file (for Hugging Face LFS files, the LFS object id). Where no published checksum could
be found, ``sha256`` is ``None``: the fetcher then computes the digest, compares it with
the one the server reports when it reports one, and prints it so that it can be pinned
here. The known checksums were cross-checked against two independent pinned download
scripts each (InstantID, antelopev2, Real-ESRGAN).
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

INSTANTID_REPO = "InstantX/InstantID"
INSTANTID_REVISION = "57b32dfee076092ad2930c71fd6d439c2c3b1820"

# The InstantX demo Space ships antelopev2 but Spaces are awkward to pin; this model repo
# mirrors the same five files (checksums below match insightface's antelopev2.zip members).
ANTELOPEV2_REPO = "MonsterMMORPG/InstantID_Models"
ANTELOPEV2_REVISION = "397cafa6d8310e96e302e96528c20a4c92a884f2"
ANTELOPEV2_SHA256 = {
    "1k3d68.onnx": "df5c06b8a0c12e422b2ed8947b8869faa4105387f199c477af038aa01f9a45cc",
    "2d106det.onnx": "f001b856447c413801ef5c42091ed0cd516fcd21f2d6b79635b1e733a7109dbf",
    "genderage.onnx": "4fde69b1c810857b88c64a335084f1c3fe8f01246c9a191b48c7bb756d6652fb",
    "glintr100.onnx": "4ab1d6435d639628a6f3e5008dd4f929edf4c4124b1a7169e1048f9fef534cdf",
    "scrfd_10g_bnkps.onnx": "5838f7fe053675b1c7a08b633df49e7af5495cee0493c7dcf6697200b85b5b91",
}

REAL_ESRGAN_TAG = "v0.1.0"


def real_set_files() -> list[WeightFile]:
    sdxl = [
        WeightFile(
            dest=f"sdxl-base/{path}",
            url=_hf(SDXL_REPO, SDXL_REVISION, path),
            source=f"{SDXL_REPO}@{SDXL_REVISION[:12]}",
            sha256=None,
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
            sha256=ANTELOPEV2_SHA256[name],
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
