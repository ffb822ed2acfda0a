"""Image files for upload tests, made in memory."""

import io
import struct
import zlib

import pillow_heif
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

pillow_heif.register_heif_opener()

GPS = {1: "N", 2: (52.0, 22.0, 1.5), 3: "E", 4: (4.0, 53.0, 2.0)}


def _encode(image: Image.Image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def portrait_pixels(width: int = 800, height: int = 600) -> Image.Image:
    """Left half red, right half blue: rotation is visible in the output's pixels."""
    image = Image.new("RGB", (width, height), (220, 30, 30))
    image.paste((30, 30, 220), (width // 2, 0, width, height))
    return image


def jpeg_with_gps_and_rotation(width: int = 800, height: int = 600) -> bytes:
    """A JPEG stored landscape with EXIF orientation 6 (display rotated 90° CW) and GPS."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "TestCam"
    exif.get_ifd(0x8825).update(GPS)
    return _encode(portrait_pixels(width, height), "JPEG", exif=exif.tobytes(), quality=95)


def jpeg(width: int = 768, height: int = 1024) -> bytes:
    return _encode(portrait_pixels(width, height), "JPEG", quality=90)


def png_with_alpha(width: int = 640, height: int = 640) -> bytes:
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    image.paste((10, 120, 10, 255), (0, 0, width // 2, height))
    return _encode(image, "PNG")


def webp(width: int = 600, height: int = 700) -> bytes:
    return _encode(portrait_pixels(width, height), "WEBP", quality=80)


def heic(width: int = 640, height: int = 800) -> bytes:
    return _encode(portrait_pixels(width, height), "HEIF", quality=70)


def gif(width: int = 600, height: int = 600) -> bytes:
    return _encode(portrait_pixels(width, height), "GIF")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width×height but holds almost no pixel data: the
    shape of a decompression bomb, and proof that nothing is decoded before the check."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def truncated_jpeg() -> bytes:
    data = jpeg(1024, 1024)
    return data[: len(data) // 2]


def upload(data: bytes, name: str = "selfie.jpg", content_type: str = "image/jpeg"):
    return SimpleUploadedFile(name, data, content_type=content_type)


# (description, file name, bytes factory, expected error code)
BAD_UPLOADS = [
    (
        "over 20 MB",
        "huge.jpg",
        lambda: b"\xff\xd8\xff" + b"\0" * (20 * 1024 * 1024),
        "file_too_large",
    ),
    ("over 40 megapixels", "big.png", lambda: png_header_only(8000, 6000), "too_many_pixels"),
    ("decompression bomb", "bomb.png", lambda: png_header_only(30000, 30000), "too_many_pixels"),
    ("short side under 512 px", "small.jpg", lambda: jpeg(500, 900), "too_small"),
    (
        "not an image",
        "notes.jpg",
        lambda: b"%PDF-1.7 this is not a photo at all\n" * 50,
        "not_an_image",
    ),
    ("truncated", "cut.jpg", truncated_jpeg, "truncated_image"),
    ("unsupported format", "anim.gif", lambda: gif(), "unsupported_format"),
]
