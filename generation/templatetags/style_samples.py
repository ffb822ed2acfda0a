from django import template

from generation import selectors
from generation.samples import sample_url

register = template.Library()


@register.filter
def style_sample_url(style) -> str:
    return sample_url(style)


@register.inclusion_tag("generation/_style_gallery.html")
def style_gallery(heading: str = "Every style, from one selfie"):
    """The catalog in pictures, for the public pages (landing, pricing)."""
    return {"styles": list(selectors.styles_active()), "heading": heading}
