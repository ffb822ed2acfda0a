"""schemathesis hooks for the fuzz run (loaded through SCHEMATHESIS_HOOKS).

The upload's schema says which media types the `image` part may be. A schema cannot
say that a selfie must be at least 512 px on its short side, so schemathesis's own
samples (1×1 pixel files) would always be refused; these strategies send real photos
of each documented format in varied sizes, and schemathesis still sends its broken
files in its negative cases.
"""

import io

import schemathesis
from hypothesis import strategies as st
from PIL import Image


def _photo(fmt: str):
    def encode(size: tuple[int, int, int]) -> bytes:
        width, height, shade = size
        buffer = io.BytesIO()
        Image.new("RGB", (width, height), (shade, 128, 255 - shade)).save(buffer, fmt)
        return buffer.getvalue()

    return st.tuples(st.integers(512, 1200), st.integers(512, 1200), st.integers(0, 255)).map(
        encode
    )


schemathesis.openapi.media_type("image/jpeg", _photo("JPEG"))
schemathesis.openapi.media_type("image/png", _photo("PNG"))
schemathesis.openapi.media_type("image/webp", _photo("WEBP"))
