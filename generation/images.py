"""Checking and cleaning uploaded selfies, and encoding finished headshots.

Everything that can be refused is refused from the header alone, before a single
pixel is decoded: size on disk, format, pixel count (decompression bombs) and the
short side. Only then is the image decoded, turned upright from its EXIF
orientation, converted to sRGB, and re-encoded from bare pixels so that no metadata
(EXIF, GPS, XMP, ICC, comments) survives.
"""

import io
import warnings
from dataclasses import dataclass

import pillow_heif
from django.core.exceptions import ValidationError
from PIL import ExifTags, Image, ImageCms, UnidentifiedImageError

from . import framing

pillow_heif.register_heif_opener()

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 40_000_000
MIN_SHORT_SIDE = 512
ACCEPTED_FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "HEIF": "HEIC/HEIF"}
ACCEPTED_CONTENT_TYPES = "image/jpeg,image/png,image/webp,image/heic,image/heif,.heic,.heif"
STORED_JPEG_QUALITY = 95
# The generator analyses faces at a long side of 1280 px and paints at 1024 px, so a
# selfie is kept at most this large: more pixels would only be stored to be purged.
STORED_LONG_SIDE = 2048
# What exif_transpose would do for each EXIF orientation, applied after downscaling.
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
THUMBNAIL_SIDE = 512

_SRGB = ImageCms.createProfile("sRGB")


@dataclass(frozen=True)
class CleanImage:
    jpeg: bytes
    width: int
    height: int


def _refuse(message: str, code: str) -> ValidationError:
    return ValidationError(message, code=code)


def _open_header(data: bytes) -> Image.Image:
    """Read the header only; Pillow decodes nothing until load()."""
    with warnings.catch_warnings():
        # Between Pillow's own limits it only warns; MAX_PIXELS below is stricter.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return Image.open(io.BytesIO(data))
        except Image.DecompressionBombError:
            raise _refuse(
                f"This image has far more pixels than a photo needs. "
                f"Send one under {MAX_PIXELS // 1_000_000} megapixels.",
                "too_many_pixels",
            ) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise _refuse(
                "This file is not an image we can read. Send a JPEG, PNG, WebP or HEIC photo.",
                "not_an_image",
            ) from None


def clean_selfie(data: bytes) -> CleanImage:
    """Validate an uploaded selfie and return it upright, in sRGB, with no metadata."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise _refuse(
            f"This file is {len(data) / 1024 / 1024:.1f} MB; the limit is "
            f"{MAX_UPLOAD_BYTES // 1024 // 1024} MB. Export a smaller copy and try again.",
            "file_too_large",
        )
    if not data:
        raise _refuse("The file is empty.", "empty_file")
    image = _open_header(data)
    if image.format not in ACCEPTED_FORMATS:
        raise _refuse(
            f"{image.format or 'This'} files are not accepted. "
            "Send a JPEG, PNG, WebP or HEIC photo.",
            "unsupported_format",
        )
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise _refuse(
            f"This image is {width}×{height} ({width * height / 1_000_000:.0f} megapixels); "
            f"the limit is {MAX_PIXELS // 1_000_000} megapixels. Send a smaller copy.",
            "too_many_pixels",
        )
    if min(width, height) < MIN_SHORT_SIDE:
        raise _refuse(
            f"This image is {width}×{height}; its short side must be at least "
            f"{MIN_SHORT_SIDE} px for a sharp headshot. Send the original photo, not a thumbnail.",
            "too_small",
        )
    # Memory: a 40 MP upload is 120 MB as one RGB copy. A JPEG is decoded straight at
    # (about) the stored size by DCT scaling; anything else is decoded once and
    # shrunk before it is turned upright, so no second full-size copy is ever made
    # (bench/upload_memory.py measures it; a test holds it).
    try:
        orientation = image.getexif().get(ExifTags.Base.Orientation)
        if image.format == "JPEG":
            image.draft("RGB", _stored_size(image.size))
        image.load()
        image = _shrunk(image)
        if orientation in _UPRIGHT:
            image = image.transpose(_UPRIGHT[orientation])
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        raise _refuse(
            "This image is truncated or damaged, so it cannot be read in full. "
            "Upload it again, or export a fresh copy.",
            "truncated_image",
        ) from None
    rgb = _to_srgb(image, image.info.get("icc_profile"))
    # Only the pixels go on: with no info dict and no exif given, the encoder writes no
    # EXIF, GPS, XMP, ICC profile or comment.
    rgb.info = {}
    out = io.BytesIO()
    # No optimize=True: Huffman optimisation makes libjpeg buffer the whole image's
    # coefficients (and Pillow a 4-bytes-a-pixel output buffer) for ~5% smaller files.
    rgb.save(out, format="JPEG", quality=STORED_JPEG_QUALITY, exif=b"")
    return CleanImage(jpeg=out.getvalue(), width=rgb.width, height=rgb.height)


def _stored_size(size: tuple[int, int]) -> tuple[int, int]:
    scale = min(1.0, STORED_LONG_SIDE / max(size))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _shrunk(image: Image.Image) -> Image.Image:
    """The decoded image at most STORED_LONG_SIDE on its long side. A whole-number
    reduce() first makes the copy small before the filtered resize makes another."""
    factor = max(image.size) // STORED_LONG_SIDE
    if factor >= 2 and image.mode in ("P", "1", "I;16"):
        # Modes reduce() cannot shrink; palette and bilevel images are small to copy.
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if factor >= 2:
        image = image.reduce(factor)
    if max(image.size) > STORED_LONG_SIDE:
        image = image.resize(_stored_size(image.size), Image.Resampling.LANCZOS)
    return image


def _to_srgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """The image in sRGB; an RGB image is converted in place rather than copied."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent areas become white, not black, like paper behind a print.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba).convert("RGB")
    if icc_profile and image.mode in ("RGB", "CMYK", "L"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
            if image.mode == "RGB":
                ImageCms.profileToProfile(image, source, _SRGB, outputMode="RGB", inPlace=True)
                return image
            return ImageCms.profileToProfile(image, source, _SRGB, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # A broken profile is metadata we drop anyway; the pixels still serve.
    return image if image.mode == "RGB" else image.convert("RGB")


def preview_jpeg(jpeg: bytes, *, side: int = THUMBNAIL_SIDE) -> bytes:
    image = Image.open(io.BytesIO(jpeg))
    # draft() lets the JPEG decoder scale down by DCT, far cheaper than a full decode.
    image.draft("RGB", (side, side))
    image.thumbnail((side, side))
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=85)
    return out.getvalue()


@dataclass(frozen=True)
class EncodedHeadshot:
    data: bytes
    thumbnail: bytes
    extension: str
    content_type: str
    width: int
    height: int


_HEADSHOT_FORMATS = {
    "JPEG": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "WEBP": ("webp", "image/webp"),
}


def encode_headshot(image: "bytes | Image.Image") -> EncodedHeadshot:
    """Encoded bytes are stored as given (JPEG, PNG or WebP); a PIL image becomes a JPEG."""
    if isinstance(image, bytes | bytearray):
        data = bytes(image)
        try:
            decoded = Image.open(io.BytesIO(data))
            decoded.load()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
            raise ValueError(f"The headshot bytes are not a readable image: {error}") from None
        if decoded.format not in _HEADSHOT_FORMATS:
            raise ValueError(f"Headshots must be JPEG, PNG or WebP, not {decoded.format}.")
        extension, content_type = _HEADSHOT_FORMATS[decoded.format]
    else:
        decoded = image.convert("RGB")
        out = io.BytesIO()
        decoded.save(out, format="JPEG", quality=STORED_JPEG_QUALITY)
        data = out.getvalue()
        extension, content_type = _HEADSHOT_FORMATS["JPEG"]
    thumb = decoded.convert("RGB")
    thumb.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    thumb_out = io.BytesIO()
    thumb.save(thumb_out, format="JPEG", quality=85)
    return EncodedHeadshot(
        data=data,
        thumbnail=thumb_out.getvalue(),
        extension=extension,
        content_type=content_type,
        width=decoded.width,
        height=decoded.height,
    )


def crop_headshot(data: bytes, crop: framing.Crop) -> bytes:
    """A face-centred crop of a stored headshot (see generation.framing), as a JPEG."""
    with Image.open(io.BytesIO(data)) as image:
        cropped = image.convert("RGB").crop(framing.crop_box(image.size, crop))
    out = io.BytesIO()
    cropped.save(out, "JPEG", quality=STORED_JPEG_QUALITY, optimize=True)
    return out.getvalue()
