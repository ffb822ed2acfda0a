"""The studio and the gallery in a real browser, at desktop and phone width: style
samples, the face check at upload (with and without a generator running), likeness in
words, crops, "More like this" and "Redo this one", order history as cards on a
phone; axe-core on every page, and nothing sticking out of its card at 390 px.

Screenshots land in tests/artifacts/e2e/studio-gallery/.
"""

from __future__ import annotations

import re

import pytest
from PIL import Image

from generation.models import Order, QuotaUsage
from tests.e2e.a11y import assert_accessible, assert_nothing_outside_cards
from tests.e2e.browser import PHONE, Camera
from tests.e2e.fixtures import selfie_bytes

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def look(page, camera: Camera, name: str) -> None:
    """Screenshot at both widths (no sideways scroll), axe at both, nothing cut off
    out of its card on the phone."""
    camera.shot(page, name)
    assert_accessible(page, name)
    size = page.viewport_size
    page.set_viewport_size(PHONE)
    try:
        page.evaluate(
            "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )
        assert_nothing_outside_cards(page, name)
        assert_accessible(page, f"{name} (phone)")
    finally:
        page.set_viewport_size(size)


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
    page.locator(".photo-check-ok").wait_for(timeout=60_000)
    assert page.locator(".photo-choice:has(input:checked) .photo-check-ok").inner_text() == (
        "Face found."
    )
    look(page, camera, "face found")

    # Ordered with the keyboard only: Space ticks a style, Enter on the button orders.
    page.focus("input[name=styles][value=corporate-grey]")
    page.keyboard.press("Space")
    page.focus("input[name=styles][value=modern-office]")
    page.keyboard.press("Space")
    page.get_by_text("You are ordering 2 headshots; 8 left this month.").wait_for()
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

    # A face-centred crop for a profile picture, and one for a website.
    for label, size in (("Profile picture (1:1)", (819, 819)), ("Website (4:5)", (819, 1024))):
        with page.expect_download() as download:
            page.locator("#gallery figure").first.get_by_text(label).click()
        with Image.open(download.value.path()) as image:
            assert image.size == size, label

    # Redo this one: the cost is asked first, then a one-headshot order replaces it.
    questions = []
    page.on("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    page.locator("#gallery figure").first.get_by_role("button", name="Redo this one").click()
    page.wait_for_url(another_order(first))
    assert "It uses 1 of the 6 headshots you have left this month." in questions[-1]
    redo = Order.objects.for_workspace(workspace).exclude(pk=first.pk).get()
    assert redo.total == 1 and redo.redo_of.order_id == first.pk
    page.wait_for_function(
        "() => document.getElementById('order-status').textContent.trim() === 'Succeeded'",
        timeout=240_000,
    )
    # Back to the first order, as a person would: through the order history.
    page.locator("nav").get_by_role("link", name="Orders", exact=True).click()
    page.wait_for_url(f"**/w/{workspace.slug}/orders/")
    page.get_by_role("link", name=f"#{first.pk}", exact=True).click()
    page.get_by_role("link", name="Redone: see the new one").wait_for()

    # More like this: the same styles again, new seeds, its cost said before it is placed.
    page.get_by_role("button", name="More like this").click()
    page.wait_for_url(another_order(first))
    assert "It uses 2 of the 5 headshots you have left this month." in questions[-1]
    assert QuotaUsage.objects.for_workspace(workspace).get().used == 5
    page.wait_for_function(
        "() => document.getElementById('order-status').textContent.trim() === 'Succeeded'",
        timeout=240_000,
    )
    look(page, camera, "more like this")

    # Order history on a phone: stacked cards with the status and the progress shown.
    page.goto(f"{studio}orders/")
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

    # Back in the studio, the finished upload step is folded away.
    page.goto(studio)
    assert page.locator("#upload-step").get_attribute("open") is None
    look(page, camera, "studio with finished steps folded")
