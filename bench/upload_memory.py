"""Peak memory of accepting one large selfie, as a multiple of one decoded RGB copy.

    .venv/bin/python -m bench.upload_memory                 # 40 MP PNG and JPEG, upright and rotated
    .venv/bin/python -m bench.upload_memory --megapixels 20 --format jpeg

Each case runs in a fresh child process, which reads the file and then runs the
pixel path of `generation.services.photo_upload` (images.clean_selfie, then
crypto.encrypt of the cleaned JPEG). Two figures, because neither sees everything:

- `rss`: how far the process's peak resident memory rose above where it stood just
  before (VmHWM against VmRSS in /proc/self/status, the peak reset first). This is what a web worker pays, and it
  includes Pillow's pixel buffers, which Pillow allocates with C malloc.
- `tracemalloc`: the peak of Python's own allocations (bytes objects: the upload, the
  encoded JPEG, the encrypted blob). tracemalloc cannot see Pillow's buffers.

One decoded RGB copy is width × height × 3 bytes (Pillow itself keeps RGB at 4 bytes
a pixel, so its one decoded image is already 1.33 of these).
"""

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def selfie_bytes(*, width: int, height: int, fmt: str, orientation: int = 1) -> bytes:
    """A large photo-like image that compresses well (like the 115 KB, 40 MP PNG of a
    decompression-style upload), in `fmt`, with an EXIF orientation."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), (205, 185, 165))
    draw = ImageDraw.Draw(image)
    draw.ellipse((width // 5, height // 6, width * 4 // 5, height * 5 // 6), fill=(120, 90, 70))
    draw.rectangle((0, height * 4 // 5, width, height), fill=(40, 50, 70))
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    if fmt == "jpeg":
        image.save(out, format="JPEG", quality=90, exif=exif.tobytes())
    else:
        image.save(out, format="PNG", exif=exif.tobytes())
    return out.getvalue()


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise LookupError(field)


def _reset_peak_rss() -> None:
    # getrusage's ru_maxrss would not do: it keeps the high-water mark of the parent
    # that forked this process (a large test runner, say) across exec. VmHWM is this
    # process's own, and writing 5 to clear_refs resets it to the current size.
    Path("/proc/self/clear_refs").write_text("5")


def measure_child(path: str) -> dict:
    """Run in a fresh process: the peaks of accepting the selfie stored at `path`."""
    import gc
    import tracemalloc

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "headshot_site.settings")
    import django

    django.setup()
    from generation import crypto, images
    from generation.services.photos import PHOTO_PURPOSE

    data = Path(path).read_bytes()
    gc.collect()
    _reset_peak_rss()
    rss_before = _status_bytes("VmRSS")
    tracemalloc.start()
    clean = images.clean_selfie(data)
    blob = crypto.encrypt(clean.jpeg, purpose=PHOTO_PURPOSE)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_peak = _status_bytes("VmHWM")
    return {
        "width": clean.width,
        "height": clean.height,
        "stored_bytes": len(blob),
        "rss_before": rss_before,
        "rss_peak": rss_peak,
        "rss_growth": max(rss_peak - rss_before, 0),
        "traced_peak": traced_peak,
    }


def measure(data: bytes) -> dict:
    """The peaks of accepting `data`, measured in a fresh child process."""
    with tempfile.NamedTemporaryFile(suffix=".img") as file:
        file.write(data)
        file.flush()
        result = subprocess.run(
            [sys.executable, "-m", "bench.upload_memory", "--child", file.name],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    # One RGB copy of the upload as sent, not of the (smaller) selfie that is kept.
    from PIL import Image

    with Image.open(io.BytesIO(data)) as header:
        uploaded_width, uploaded_height = header.size
    rgb = uploaded_width * uploaded_height * 3
    return {
        **figures,
        "rgb_bytes": rgb,
        "rss_ratio": figures["rss_growth"] / rgb,
        "traced_ratio": figures["traced_peak"] / rgb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megapixels", type=float, default=39.7)
    parser.add_argument("--format", choices=["png", "jpeg", "both"], default="both")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_child(args.child)))
        return
    side = int((args.megapixels * 1_000_000) ** 0.5)
    formats = ["png", "jpeg"] if args.format == "both" else [args.format]
    print(
        f"{side}×{side} ({side * side / 1e6:.1f} MP); one RGB copy = {side * side * 3 / 2**20:.0f} MiB"
    )
    for fmt in formats:
        for orientation in (1, 6):
            data = selfie_bytes(width=side, height=side, fmt=fmt, orientation=orientation)
            figures = measure(data)
            print(
                f"{fmt:4} orientation {orientation}: file {len(data) / 2**20:5.1f} MiB, "
                f"peak RSS +{figures['rss_growth'] / 2**20:4.0f} MiB "
                f"({figures['rss_ratio']:.2f}× RGB), tracemalloc peak "
                f"{figures['traced_peak'] / 2**20:4.0f} MiB ({figures['traced_ratio']:.2f}× RGB)"
            )


if __name__ == "__main__":
    main()
