"""`manage.py render_style_samples` on the tiny model set: the product's engine renders
each style's sample from the reference face, stamped as a demo."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from generation.models import Style

pytestmark = [pytest.mark.gpu_stack, pytest.mark.django_db]


def _render(tiny_model_dir, *extra: str) -> str:
    out = io.StringIO()
    call_command(
        "render_style_samples",
        "--models",
        "tiny",
        "--model-dir",
        str(tiny_model_dir),
        "--device",
        "cpu",
        "--steps",
        "2",
        *extra,
        stdout=out,
    )
    return out.getvalue()


def test_samples_are_rendered_from_the_reference_face_and_stamped_as_demo(tiny_model_dir):
    output = _render(tiny_model_dir, "--styles", "corporate-grey", "medical")

    assert "Rendered 2 style samples on tiny (DEMO-stamped: tiny model set)." in output
    rendered = Style.objects.filter(slug__in=["corporate-grey", "medical"])
    for style in rendered:
        with style.sample.open("rb") as stored:
            image = Image.open(stored).convert("RGB")
        assert image.size == (512, 512)
        # The engine's red DEMO band runs along the bottom of every tiny-set image.
        red, green, blue = image.getpixel((5, 508))
        assert red > 150 and green < 60 and blue < 60
    assert not Style.objects.exclude(slug__in=["corporate-grey", "medical"]).exclude(sample="")

    # A second run leaves existing samples (staff uploads included) alone.
    assert "Every style already has a sample" in _render(
        tiny_model_dir, "--styles", "corporate-grey"
    )


def test_a_reference_photo_without_a_face_is_refused(tiny_model_dir, tmp_path, noise_photo):
    path = tmp_path / "noise.png"
    noise_photo.save(path)

    with pytest.raises(CommandError, match="reference face cannot be used"):
        _render(tiny_model_dir, "--face", str(path), "--styles", "medical")
    assert not Style.objects.get(slug="medical").sample
