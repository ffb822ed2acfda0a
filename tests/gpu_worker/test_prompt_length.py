"""Every style's prompt and negative prompt fit CLIP's 77 tokens, counted with CLIP's
real BPE vocabulary (the one both SDXL text encoders use; open_clip_torch ships it).
Past 77, SDXL silently drops the end of a prompt."""

from __future__ import annotations

import pytest

from generation.models import Style

open_clip_tokenizer = pytest.importorskip("open_clip.tokenizer")

pytestmark = pytest.mark.django_db

CLIP_CONTEXT = 77  # start and end tokens included


def clip_tokens(text: str) -> int:
    return len(open_clip_tokenizer.SimpleTokenizer().encode(text)) + 2


def test_the_counter_is_clips_bpe_and_not_one_token_a_word():
    assert clip_tokens("a photo of a cat") == 7
    assert clip_tokens("headshot, 85mm lens, f/2.8") > 4


def test_every_style_prompt_and_negative_prompt_fit_77_clip_tokens():
    styles = list(Style.objects.all())
    assert len(styles) >= 6  # the catalog seeded by the migrations
    too_long = {
        f"{style.slug} {field}": clip_tokens(getattr(style, field))
        for style in styles
        for field in ("prompt", "negative_prompt")
        if clip_tokens(getattr(style, field)) > CLIP_CONTEXT
    }
    assert too_long == {}
