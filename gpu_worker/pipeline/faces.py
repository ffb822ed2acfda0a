"""Face analysis with insightface's FaceAnalysis on the antelopev2 pack (SCRFD + ArcFace)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from insightface.app import FaceAnalysis
from PIL import Image, ImageOps

from gpu_worker.pipeline.errors import FaceTooSmall, NoFaceFound

DETECTION_SIZE = (640, 640)
# Below this the 112 px ArcFace crop is mostly upsampling, and the identity washes out.
MIN_FACE_PX = 64
# InstantID's reference resizes a selfie to this long side before face analysis. From a
# 12-40 MP original, the 112 px ArcFace crop would otherwise be warped straight out of
# far too many pixels without a low-pass filter, and alias into a weaker identity.
ANALYSIS_LONG_SIDE = 1280


@dataclass(frozen=True)
class Face:
    """The largest face of a photo, in that photo's pixel coordinates."""

    bbox: tuple[float, float, float, float]
    kps: np.ndarray  # (5, 2): eyes, nose, mouth corners
    embedding: np.ndarray  # (512,) raw ArcFace embedding, as InstantID expects it
    det_score: float

    @property
    def pixels(self) -> int:
        """The face box's shorter side."""
        x0, y0, x1, y1 = self.bbox
        return round(min(x1 - x0, y1 - y0))


def onnx_providers(device: str) -> tuple[list, int]:
    """ONNX Runtime providers and insightface ctx_id for a torch-style device string.

    onnxruntime-gpu lists CUDA as available even on machines without a GPU, so the
    choice follows the device the engine was asked to use, not what ORT advertises.
    """
    if device.startswith("cuda"):
        index = int(device.partition(":")[2] or 0)
        return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"], index
    return ["CPUExecutionProvider"], -1


def to_bgr(image: Image.Image) -> np.ndarray:
    rgb = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    return np.ascontiguousarray(rgb[:, :, ::-1])


def analysis_frame(bgr: np.ndarray) -> tuple[np.ndarray, float]:
    """The frame face analysis sees, and its scale from the original: at most
    ANALYSIS_LONG_SIDE on its long side, shrunk with an area filter (which averages
    every source pixel, so fine texture cannot alias)."""
    height, width = bgr.shape[:2]
    scale = ANALYSIS_LONG_SIDE / max(height, width)
    if scale >= 1:
        return bgr, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(bgr, size, interpolation=cv2.INTER_AREA), scale


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


class FaceAnalyzer:
    def __init__(self, pack_dir: Path, *, device: str) -> None:
        providers, ctx_id = onnx_providers(device)
        # Landmarks and gender/age are not used; skipping them saves two sessions per call.
        self.app = FaceAnalysis(
            name=str(pack_dir), allowed_modules=["detection", "recognition"], providers=providers
        )
        self.app.prepare(ctx_id=ctx_id, det_size=DETECTION_SIZE)

    def largest_face(self, image: Image.Image) -> Face | None:
        frame, scale = analysis_frame(to_bgr(image))
        detected = self.app.get(frame)
        if not detected:
            return None
        best = max(detected, key=lambda f: (f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1]))
        # Back in the original photo's coordinates.
        return Face(
            bbox=tuple(float(v) / scale for v in best.bbox),
            kps=np.asarray(best.kps, dtype=np.float32) / scale,
            embedding=np.asarray(best.embedding, dtype=np.float32),
            det_score=float(best.det_score),
        )

    def analyze(self, image: Image.Image) -> Face:
        face = self.largest_face(image)
        if face is None:
            raise NoFaceFound()
        if face.pixels < MIN_FACE_PX:
            raise FaceTooSmall(face.pixels, MIN_FACE_PX)
        return face


def face_to_bytes(face: Face) -> bytes:
    """A face analysis as stored with its photo (encrypted by generation's services)."""
    buffer = io.BytesIO()
    np.savez(
        buffer,
        bbox=np.asarray(face.bbox, dtype=np.float32),
        kps=face.kps.astype(np.float32),
        embedding=face.embedding.astype(np.float32),
        det_score=np.float32(face.det_score),
    )
    return buffer.getvalue()


def face_from_bytes(data: bytes) -> Face:
    with np.load(io.BytesIO(data)) as arrays:
        return Face(
            bbox=tuple(float(value) for value in arrays["bbox"]),
            kps=arrays["kps"],
            embedding=arrays["embedding"],
            det_score=float(arrays["det_score"]),
        )
