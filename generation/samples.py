"""Style samples: the picture each style sells with, and the placeholder until one exists.

A sample is rendered by `manage.py render_style_samples` (the GPU worker's engine,
from a reference face) or uploaded by staff in the admin; both land in
`Style.sample` through `services.style_set_sample`. Until then the portal draws a
placeholder: a head-and-shoulders figure on the style's backdrop colour, so a page
never shows a broken image. Samples are public product pictures (no customer's
face), served by the app with a versioned URL so browsers and proxies may cache them.
"""

import hashlib
import io
from html import escape

from django.urls import reverse
from PIL import Image

from .models import Style

SAMPLE_SIDE = 512
SAMPLE_JPEG_QUALITY = 88

# (backdrop, clothing) for the seeded catalog; other styles get colours from their slug.
STYLE_COLOURS = {
    "corporate-grey": ("#8a8f98", "#1f2633"),
    "modern-office": ("#d9e2ea", "#3d5a80"),
    "outdoor-natural-light": ("#8fb573", "#4a5d3a"),
    "black-and-white-studio": ("#3a3a3a", "#111111"),
    "creative-colour-backdrop": ("#e0625a", "#2b2d42"),
    "medical": ("#cfe3ec", "#f4f7f9"),
    "legal-library": ("#6b4a2f", "#1c1f2a"),
    "startup-casual": ("#f1d8b5", "#5b7fa6"),
    "evening-city": ("#2d3561", "#1a1a2e"),
    "executive-boardroom": ("#5a4636", "#15171c"),
    "warm-neutral-studio": ("#d8c3a5", "#6b4f3a"),
    "real-estate-agent": ("#a7c4d9", "#22314a"),
}


def style_colours(style: Style) -> tuple[str, str]:
    if style.slug in STYLE_COLOURS:
        return STYLE_COLOURS[style.slug]
    digest = hashlib.sha256(style.slug.encode()).digest()
    hue = digest[0] * 360 // 256
    return f"hsl({hue} 35% 62%)", f"hsl({(hue + 200) % 360} 40% 22%)"


def placeholder_svg(style: Style) -> str:
    backdrop, clothing = style_colours(style)
    name = escape(style.name)
    return f"""<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 512 512" role="img" \
aria-label="{name}: sample coming soon">
<rect width="512" height="512" fill="{backdrop}"/>
<path d="M86 512c8-96 76-150 170-150s162 54 170 150z" fill="{clothing}"/>
<ellipse cx="256" cy="214" rx="84" ry="104" fill="#e9c6a8"/>
<rect x="0" y="452" width="512" height="60" fill="#000" fill-opacity=".55"/>
<text x="256" y="490" font-family="system-ui, sans-serif" font-size="26" fill="#fff" \
text-anchor="middle">{name}</text>
</svg>"""


def sample_jpeg(image: Image.Image) -> bytes:
    """A rendered or uploaded sample, squared from the centre and sized for the pages."""
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    square = image.convert("RGB").crop((left, top, left + side, top + side))
    square = square.resize((SAMPLE_SIDE, SAMPLE_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    square.save(out, "JPEG", quality=SAMPLE_JPEG_QUALITY, optimize=True)
    return out.getvalue()


def sample_url(style: Style) -> str:
    """The style's picture; the version changes with the sample, so it may be cached long."""
    version = hashlib.sha256(style.sample.name.encode()).hexdigest()[:12] if style.sample else "0"
    return f"{reverse('style_sample', args=[style.slug])}?v={version}"
