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


def _large_textured_selfie(astronaut: Image.Image, side: int) -> Image.Image:
    """The astronaut as a high-resolution phone photo: upsampled, with a one-pixel
    texture (sensor noise, fabric, pores) that only a pre-filter can average away."""
    large = np.asarray(astronaut.resize((side, side), Image.Resampling.BICUBIC), dtype=np.int16)
    rows, columns = np.indices((side, side))
    texture = np.where((rows + columns) % 2 == 0, 40, -40)[:, :, None]
    return Image.fromarray(np.clip(large + texture, 0, 255).astype(np.uint8))


def test_face_analysis_sees_at_most_1280_px_on_the_long_side(engine, astronaut, monkeypatch):
    seen: list[tuple[int, int]] = []
    real_get = engine.faces.app.get

    def get(frame, *args, **kwargs):
        seen.append(frame.shape[:2])
        return real_get(frame, *args, **kwargs)

    monkeypatch.setattr(engine.faces.app, "get", get)
    wide = astronaut.resize((4000, 3000))

    face = engine.analyze_face(wide)

    assert seen == [(960, 1280)]
    # The face comes back in the upload's own coordinates.
    x0, y0, x1, y1 = face.bbox
    left, top, right, bottom = FACE_REGION
    assert left * 4000 / 512 < (x0 + x1) / 2 < right * 4000 / 512
    assert top * 3000 / 512 < (y0 + y1) / 2 < bottom * 3000 / 512


def test_the_identity_of_a_large_textured_selfie_is_that_of_its_1280_px_version(engine, astronaut):
    from gpu_worker.pipeline.faces import cosine_similarity

    large = _large_textured_selfie(astronaut, 5120)
    reference = engine.analyze_face(astronaut.resize((1280, 1280), Image.Resampling.BICUBIC))

    found = engine.analyze_face(large)

    assert cosine_similarity(found.embedding, reference.embedding) > 0.99
