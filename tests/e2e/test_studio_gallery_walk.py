"""The studio and the gallery in a real browser, at desktop and phone width: style
samples, the face check at upload (with and without a generator running), likeness in
words, crops, "Redo this one" replacing a headshot in place and "More like this", the
studio's finished steps folded into one line each, order history as cards on a phone;
axe-core on every page at both widths, nothing sticking out of its card at 390 px, and
the customer's way from the gallery on with the keyboard only (Tab, Enter, Escape),
the phone's menu included.

Screenshots land in tests/artifacts/e2e/studio-gallery/.
"""

from __future__ import annotations

import re
import zipfile

import pytest
from PIL import Image

from generation.models import Headshot, Order, QuotaUsage
from tests.e2e.a11y import assert_nothing_outside_cards
from tests.e2e.browser import PHONE, Camera
from tests.e2e.fixtures import selfie_bytes

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def look(page, camera: Camera, name: str) -> None:
    """Screenshot and axe at both widths (no sideways scroll), and nothing cut off out
    of its card on the phone."""
    camera.shot(page, name)
    size = page.viewport_size
    page.set_viewport_size(PHONE)
    try:
        page.evaluate(
            "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )
        assert_nothing_outside_cards(page, name)
    finally:
        page.set_viewport_size(size)


def height_on_a_phone(page) -> int:
    size = page.viewport_size
    page.set_viewport_size(PHONE)
    try:
        page.evaluate(
            "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )
        return page.evaluate("document.documentElement.scrollHeight")
    finally:
        page.set_viewport_size(size)


# What has the keyboard focus: its name, and whether the focus can be seen.
_FOCUSED_JS = """() => {
  const element = document.activeElement;
  const style = getComputedStyle(element);
  return {
    name: (element.getAttribute('aria-label') || element.innerText || element.value || '').trim(),
    visible: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0,
  };
}"""


def tab_to(page, name: str, *, presses: int = 80) -> None:
    """Press Tab until the control named `name` has the focus, which it must show."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        focused = page.evaluate(_FOCUSED_JS)
        if focused["name"] == name:
            assert focused["visible"], f"{name!r} has the focus but does not show it"
            return
    raise AssertionError(f"{name!r} cannot be reached with Tab")


def samples_loaded(page) -> None:
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('img.style-sample, .sample-card img'))"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )


def another_order(order):
    """A URL matcher for the page of any order but `order` (the one we are on)."""
    return lambda url: bool(re.search(r"/orders/\d+/$", url)) and f"/orders/{order.pk}/" not in url


@pytest.fixture
def photos(tmp_path):
    selfie = tmp_path / "selfie.jpg"
    selfie.write_bytes(selfie_bytes())
    no_face = tmp_path / "no-face.jpg"
    # Flat noise: no face anywhere, but big enough to pass the upload checks.
    Image.effect_noise((640, 640), 64).convert("RGB").save(no_face, "JPEG")
    return selfie, no_face


def test_studio_face_check_gallery_and_phone_layout(portal, open_browser, start_worker, photos):
    from tests.factories import DEFAULT_PASSWORD, MembershipFactory, UserFactory

    selfie, no_face = photos
    membership = MembershipFactory(user=UserFactory(email="sam@example.com"))
    workspace = membership.workspace
    camera = Camera("studio-gallery")
    page = open_browser("sam").new_page()

    # Public pages sell with a picture of every style (drawn placeholders until rendered).
    page.goto(portal + "/")
    samples_loaded(page)
    assert page.locator(".sample-card img").count() == 12
    look(page, camera, "landing with style samples")
    page.goto(portal + "/billing/pricing/")
    samples_loaded(page)
    assert page.locator(".sample-card img").count() == 12
    look(page, camera, "pricing with style samples")

    page.goto(portal + "/accounts/login/")
    page.fill("input[name=login]", membership.user.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    studio = f"{portal}/w/{workspace.slug}/"
    page.goto(studio)
    samples_loaded(page)
    assert page.locator(".style-card img.style-sample").count() == 12
    look(page, camera, "studio")

    # No generator running yet: the photo says it is waiting to be checked.
    page.set_input_files("#image-input", str(no_face))
    page.locator(".photo-check-pending").get_by_text("Checking for a face…").wait_for()
    page.locator(".photo-check-pending").get_by_text("Waiting to be checked").wait_for(
        timeout=30_000
    )
    look(page, camera, "photo waiting for the check")

    # The generator comes up and turns the faceless photo down, within seconds.
    start_worker()
    rejected = page.locator(".photo-check-rejected")
    rejected.wait_for(timeout=60_000)
    assert rejected.inner_text() == (
        "No usable face: try a photo where your face is clear and in front of the camera."
    )
    assert page.locator("#photo-list input[name=photo]:checked").count() == 0
    assert page.locator("#photo-list input[name=photo]:disabled").count() == 1
    look(page, camera, "no usable face")

    page.set_input_files("#image-input", str(selfie))
    # Found: uploading and picking the photo are done, and fold into one line each.
    page.locator("#photo-done").get_by_text("Face found").wait_for(timeout=60_000)
    assert page.locator("#photo-step").get_attribute("open") is None
    assert page.locator(".photo-choice:has(input:checked) .photo-check-ok").text_content() == (
        "Face found."
    )
    look(page, camera, "face found")

    # Ordered with the keyboard only: Space ticks a style, Enter on "Continue" folds the
    # step into one line, Enter on the button orders.
    page.focus("input[name=styles][value=corporate-grey]")
    page.keyboard.press("Space")
    page.focus("input[name=styles][value=modern-office]")
    page.keyboard.press("Space")
    page.get_by_text("You are ordering 2 headshots; 8 left this month.").wait_for()
    page.focus("#styles-done")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "per-style"
    assert page.inner_text("#style-done") == "2 styles: Corporate grey backdrop, Modern office"
    for step in ("upload-step", "photo-step", "style-step"):
        assert page.locator(f"#{step}").get_attribute("open") is None, step
    folded = height_on_a_phone(page)
    look(page, camera, "studio with finished steps folded")
    # Each folded step opens again from its line ("Change") with Enter, and folds with it.
    for step in ("upload-step", "photo-step", "style-step"):
        page.focus(f"#{step} > summary")
        page.keyboard.press("Enter")
        assert page.locator(f"#{step}").get_attribute("open") is not None, step
    unfolded = height_on_a_phone(page)
    print(f"studio at {PHONE['width']} px: {unfolded} px with every step open, {folded} folded")
    assert folded < 0.55 * unfolded, (folded, unfolded)
    for step in ("upload-step", "photo-step", "style-step"):
        page.focus(f"#{step} > summary")
        page.keyboard.press("Enter")
    page.focus("#order-button")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/orders/\d+/$"))
    first = Order.objects.for_workspace(workspace).get()
    page.wait_for_function(
        "() => document.getElementById('order-status').textContent.trim() === 'Succeeded'",
        timeout=240_000,
    )
    figures = page.locator("#gallery figure")
    assert figures.count() == 2
    # Best match first; words for people, the number on hover and focus.
    scores = [
        float(re.search(r"Likeness (-?[\d.]+)", title).group(1)) if "Likeness" in title else None
        for title in page.locator("#gallery .likeness").evaluate_all(
            "spans => spans.map(s => s.title)"
        )
    ]
    measured = [score for score in scores if score is not None]
    assert measured == sorted(measured, reverse=True) and scores[: len(measured)] == measured
    assert page.locator("#gallery .likeness").first.get_attribute("tabindex") == "0"
    page.hover("#gallery .likeness >> nth=0")
    look(page, camera, "gallery with likeness")

    # From here on the keyboard only (Tab, Enter, Escape), as someone who cannot use a
    # mouse: each control is reached in turn and shows that it has the focus.
    page.mouse.move(0, 0)
    page.evaluate("document.activeElement.blur()")
    # A face-centred crop for a profile picture, and one for a website.
    for label, size in (("Profile picture (1:1)", (819, 819)), ("Website (4:5)", (819, 1024))):
        tab_to(page, label)
        with page.expect_download() as download:
            page.keyboard.press("Enter")
        with Image.open(download.value.path()) as image:
            assert image.size == size, label

    # Redo this one: the cost is asked first; the card says "Redoing…" and follows the
    # redo, then the new headshot takes the old one's place, the old one kept.
    questions = []
    page.on("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    replaced = int(figures.first.get_attribute("data-headshot-id"))
    tab_to(page, "Redo this one · uses 1")
    page.keyboard.press("Enter")
    redoing = figures.first.locator(".redo-status")
    redoing.get_by_text("Redoing…").wait_for()
    assert "It uses 1 of the 6 headshots you have left this month." in questions[-1]
    assert page.evaluate("document.activeElement.classList.contains('redo-status')")
    assert page.url.endswith(f"/orders/{first.pk}/")
    look(page, camera, "gallery redoing one headshot")
    redo = Order.objects.for_workspace(workspace).exclude(pk=first.pk).get()
    assert redo.total == 1 and redo.redo_of_id == replaced
    figures.first.get_by_role("link", name="Previous version").wait_for(timeout=240_000)
    new = Headshot.objects.for_workspace(workspace).get(order=redo)
    assert int(figures.first.get_attribute("data-headshot-id")) == new.pk
    assert figures.count() == 2
    look(page, camera, "gallery with the redone headshot in place")
    tab_to(page, "Previous version")
    page.keyboard.press("Enter")
    page.wait_for_selector("#viewer[open]")
    page.keyboard.press("Escape")
    page.wait_for_selector("#viewer:not([open])", state="attached")
    # The zip holds the new one in the old one's place, under the old one's name.
    tab_to(page, "Download all (zip)")
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    archive = zipfile.ZipFile(download.value.path())
    old = Headshot.objects.for_workspace(workspace).get(pk=replaced)
    with new.file.open("rb") as stored:
        assert archive.read(f"headshot-{first.pk}-{old.style.slug}-{old.index + 1}.jpg") == (
            stored.read()
        )
    assert len([name for name in archive.namelist() if "/" not in name]) == 2

    # More like this: the same styles again, new seeds, its cost said before it is placed.
    tab_to(page, "More like this · uses 2")
    page.keyboard.press("Enter")
    page.wait_for_url(another_order(first))
    assert "It uses 2 of the 5 headshots you have left this month." in questions[-1]
    assert QuotaUsage.objects.for_workspace(workspace).get().used == 5
    page.wait_for_function(
        "() => document.getElementById('order-status').textContent.trim() === 'Succeeded'",
        timeout=240_000,
    )
    look(page, camera, "more like this")

    # On a phone the menu is a button: Enter opens it, the links follow it in the tab order.
    page.set_viewport_size(PHONE)
    try:
        page.goto(studio)
        assert page.locator("#site-nav").is_hidden()
        tab_to(page, "Menu")
        assert page.get_attribute(".nav-toggle", "aria-expanded") == "false"
        page.keyboard.press("Enter")
        assert page.get_attribute(".nav-toggle", "aria-expanded") == "true"
        assert page.locator("#site-nav").is_visible()
        camera.shot(page, "menu open on a phone", phone=False)
        # Escape closes it from the button, where the focus still is, and Enter opens it again.
        page.keyboard.press("Escape")
        assert page.get_attribute(".nav-toggle", "aria-expanded") == "false"
        assert page.locator("#site-nav").is_hidden()
        page.keyboard.press("Enter")
        assert page.get_attribute(".nav-toggle", "aria-expanded") == "true"
        tab_to(page, "Orders")
        page.keyboard.press("Enter")
        page.wait_for_url(f"**/w/{workspace.slug}/orders/")
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})

    # Order history on a phone: stacked cards with the status and the progress shown.
    look(page, camera, "order history")
    page.set_viewport_size(PHONE)
    try:
        for label in ("Status", "Progress"):
            cells = page.locator(f"td[data-label={label}]")
            assert cells.count() == 3
            for index in range(3):
                box = cells.nth(index).bounding_box()
                assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], label
        assert page.locator("td[data-label=Status]").first.inner_text() == "Succeeded"
        assert page.locator("td[data-label=Progress]").first.inner_text() == "2 of 2"
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})
