"""Errors the pipeline reports about a user's photo: a code for machines, a message for people."""

from __future__ import annotations


class PipelineError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NoFaceFound(PipelineError):
    def __init__(self) -> None:
        super().__init__(
            "no_face",
            "We couldn't find a face in this photo. Upload a clear, front-facing selfie.",
        )


class FaceTooSmall(PipelineError):
    def __init__(self, face_pixels: int, minimum: int) -> None:
        super().__init__(
            "face_too_small",
            f"Your face is too small in this photo ({face_pixels} px across; we need at least "
            f"{minimum} px). Upload a closer selfie where your face fills more of the frame.",
        )
