"""Accepting a 40 MP selfie holds about one decoded copy of it, not six.

Each case runs in a fresh process (bench/upload_memory.py), measuring both the peak of
Python's allocations with tracemalloc and the rise of the peak resident memory:
tracemalloc cannot see Pillow's pixel buffers, which Pillow allocates with C malloc,
so only the two together show the whole cost.
"""

import pytest

from bench.upload_memory import measure, selfie_bytes
from generation.images import STORED_LONG_SIDE

pytestmark = pytest.mark.slow

SIDE = 6300  # 39.7 megapixels, just under the 40 MP limit


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_an_upright_40_megapixel_selfie_stays_within_twice_one_rgb_copy(fmt):
    figures = measure(selfie_bytes(width=SIDE, height=SIDE, fmt=fmt))
    # Kept at the size the generator can use, never the full 40 MP.
    assert (figures["width"], figures["height"]) == (STORED_LONG_SIDE, STORED_LONG_SIDE)
    # The encoded output and the encrypted blob are all Python holds (it once held two
    # full RGB copies as bytes).
    assert figures["traced_ratio"] < 0.25, figures
    assert figures["rss_ratio"] <= 2.0, (figures["rss_before"], figures["rss_peak"])


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_a_rotated_40_megapixel_selfie_stays_within_twice_one_rgb_copy(fmt):
    # Turned upright after it is shrunk, so the turn never copies the full-size pixels.
    figures = measure(selfie_bytes(width=SIDE, height=SIDE, fmt=fmt, orientation=6))
    assert (figures["width"], figures["height"]) == (STORED_LONG_SIDE, STORED_LONG_SIDE)
    assert figures["traced_ratio"] < 0.25, figures
    assert figures["rss_ratio"] <= 2.0, figures
