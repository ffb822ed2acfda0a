"""Face analysis on a real photo, and the errors a user sees for unusable ones."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("insightface")

from gpu_worker.pipeline.errors import FaceTooSmall, NoFaceFound, PipelineError  # noqa: E402

pytestmark = pytest.mark.gpu_stack

# Where Eileen Collins' face is in skimage's astronaut photo (512 x 512).
FACE_REGION = (165, 50, 285, 190)


def test_finds_the_astronauts_face(face):
    x0, y0, x1, y1 = face.bbox
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left, top, right, bottom = FACE_REGION
    assert left < cx < right and top < cy < bottom
    assert face.det_score >= 0.5
    assert face.embedding.shape == (512,) and np.isfinite(face.embedding).all()
    assert face.kps.shape == (5, 2)
    # Eyes above the nose, nose above the mouth corners, left before right.
    eyes, nose, mouth = face.kps[:2], face.kps[2], face.kps[3:]
    assert eyes[:, 1].max() < nose[1] < mouth[:, 1].min()
    assert eyes[0, 0] < eyes[1, 0] and mouth[0, 0] < mouth[1, 0]


@pytest.mark.parametrize("photo", ["noise", "blank"])
def test_a_photo_without_a_face_raises_no_face(engine, noise_photo, photo):
    image = noise_photo if photo == "noise" else Image.new("RGB", (640, 480), (128, 128, 128))
    with pytest.raises(NoFaceFound) as error:
        engine.analyze_face(image)
    assert isinstance(error.value, PipelineError)
    assert error.value.code == "no_face"
    assert (
        error.value.message
        == "We couldn't find a face in this photo. Upload a clear, front-facing selfie."
    )


def test_a_tiny_face_raises_face_too_small(engine, astronaut):
    with pytest.raises(FaceTooSmall) as error:
        engine.analyze_face(astronaut.resize((200, 200)))
    assert error.value.code == "face_too_small"
    assert "closer selfie" in error.value.message


def test_likeness_is_cosine_similarity_of_identity_embeddings(engine, face, astronaut, noise_photo):
    same = engine.likeness(face=face, image=astronaut)
    assert isinstance(same, float) and same == pytest.approx(1.0, abs=1e-5)

    resized = engine.likeness(face=face, image=astronaut.resize((768, 768)))
    assert isinstance(resized, float) and 0.9 < resized < 1.0

    assert engine.likeness(face=face, image=noise_photo) is None
