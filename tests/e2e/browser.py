"""Debian's Chromium driven by Playwright, one fresh profile per person, and a camera.

Playwright's own browser download cannot work offline, so the tests launch the
system's /usr/bin/chromium (the Makefile installs it from apt when missing). Each
person in a walk (a customer, a team owner, their colleague) gets their own browser
with a fresh user-data-dir: separate cookies, storage and cache, as on two laptops.

`Camera.shot(page, name)` saves a full-page screenshot of the page at desktop width
and again at a phone's width (390×844), and fails the test when the phone layout
scrolls sideways (a customer on a phone must never have to pan) or when axe-core finds
a serious or critical accessibility problem at either width (tests/e2e/a11y.py).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tests.e2e.a11y import assert_accessible

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "e2e"

# Elements wider than the viewport, by tag#id.class, for a readable failure.
_OVERFLOW_JS = """() => {
  const root = document.documentElement;
  const width = root.clientWidth;
  const culprits = [];
  if (root.scrollWidth > width) {
    for (const el of document.body.querySelectorAll('*')) {
      const box = el.getBoundingClientRect();
      if (box.width && box.right > width + 1) {
        culprits.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
          (el.className && typeof el.className === 'string' ? '.' + el.className.trim().replace(/\\s+/g, '.') : '') +
          ' right=' + Math.round(box.right));
      }
    }
  }
  return {scrollWidth: root.scrollWidth, clientWidth: width, culprits: culprits.slice(0, 8)};
}"""


def chromium_missing_reason() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is not installed (make test installs it with apt-get when it can)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (it is in the dev extra)"
    return None


class Camera:
    """Numbered screenshots of one walk under tests/artifacts/e2e/<walk>/."""

    def __init__(self, walk: str):
        self.folder = ARTIFACTS / walk
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self.saved: list[Path] = []

    def shot(self, page, name: str, *, phone: bool = True, ours: bool = True) -> Path:
        """`phone=False` for a page that has no phone layout to check; `ours=False` for a
        page that is not ours (Stripe's checkout), which axe does not judge."""
        self.count += 1
        stem = f"{self.count:02d}-{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}"
        desktop = self.folder / f"{stem}.png"
        self.settle(page)
        page.screenshot(path=str(desktop), full_page=True)
        self.saved.append(desktop)
        if ours:
            assert_accessible(page, name)
        if phone:
            self.saved.append(self.phone_check(page, stem, axe=ours))
        return desktop

    @staticmethod
    def settle(page) -> None:
        """Let images that were just added (the gallery's, loaded lazily) finish, so the
        screenshot shows what a person would see a moment later."""
        try:
            page.wait_for_function(
                "() => Array.from(document.images).every(i => i.complete)", timeout=5000
            )
        except Exception:  # a picture still loading is not what the walk checks
            pass

    def phone_check(self, page, stem: str, *, axe: bool = True) -> Path:
        """Re-lay the same page out at a phone's width (no reload, so no side effects)."""
        size = page.viewport_size
        page.set_viewport_size(PHONE)
        try:
            # Let media queries apply and the layout settle before measuring.
            page.evaluate(
                "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
            )
            layout = page.evaluate(_OVERFLOW_JS)
            path = self.folder / f"{stem}-phone.png"
            page.screenshot(path=str(path), full_page=True)
            if axe:
                assert_accessible(page, f"{stem} (phone)")
        finally:
            page.set_viewport_size(size)
        assert layout["scrollWidth"] <= layout["clientWidth"], (
            f"{page.url} scrolls sideways at {PHONE['width']} px: "
            f"{layout['scrollWidth']} > {layout['clientWidth']}; too wide: {layout['culprits']}"
        )
        return path
