"""Every step a customer takes, in a real browser, against the running portal and the
real GPU worker (tiny offline model set).

Screenshots of every page, at desktop and phone width, land in
tests/artifacts/e2e/<walk>/; each phone-width shot also checks that the page does not
scroll sideways.
"""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from PIL import Image

from accounts.models import Membership, User
from billing.plans import entitlements
from generation.models import Headshot, Order, QuotaUsage
from tests.e2e.browser import Camera
from tests.e2e.conftest import PREMIUM_PRICE, TEAM_PRICE
from tests.e2e.fixtures import selfie_bytes
from tests.e2e.support import link_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "a-long-enough-passphrase"
CONFIRM_LINK = r"http://\S+/accounts/confirm-email/\S+/"

# Records every status the order page shows, so the test can tell that it changed in
# place: a reload would start a fresh window and lose both the marker and the record.
WATCH_ORDER_JS = """() => {
  window.__sameDocument = true;
  const badge = document.getElementById('order-status');
  window.__statuses = [badge.textContent.trim()];
  window.__progress = [document.getElementById('order-progress-text').textContent.trim()];
  new MutationObserver(() => {
    const now = badge.textContent.trim();
    if (window.__statuses[window.__statuses.length - 1] !== now) window.__statuses.push(now);
  }).observe(badge, {childList: true, characterData: true, subtree: true});
  const text = document.getElementById('order-progress-text');
  new MutationObserver(() => window.__progress.push(text.textContent.trim()))
    .observe(text, {childList: true, characterData: true, subtree: true});
}"""


def sign_up_and_verify(page, camera, mailoutbox, *, portal: str, email: str, start):
    """Sign-up form, then the mailed confirmation link, which signs the person in.
    `start` is the link (a Playwright locator) that takes the person to the sign-up form."""
    start.click()
    page.wait_for_url("**/accounts/signup/**")
    camera.shot(page, "sign up")
    address = page.locator("input[name=email]")
    if address.get_attribute("readonly") is None:
        address.fill(email)
    else:
        # Came from an invitation: the invited address is filled in and locked.
        assert address.input_value() == email
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    sent_before = len(mailoutbox)
    page.click("main form button[type=submit]")
    page.get_by_text("Verify Your Email Address").wait_for()
    camera.shot(page, "check your email")

    # Verification is mandatory: without the link from the mail there is no way in.
    assert not User.objects.get(email=email).emailaddress_set.filter(verified=True).exists()
    mails = [m for m in mailoutbox[sent_before:] if m.to == [email]]
    assert len(mails) == 1, [m.subject for m in mailoutbox]
    link = link_in(mails[0], CONFIRM_LINK)
    assert link.startswith(portal), link
    page.goto(link)
    camera.shot(page, "confirm email")
    page.click("main form button[type=submit]")
    page.get_by_text(f"You have confirmed {email}").wait_for()
    assert User.objects.get(email=email).emailaddress_set.filter(verified=True).exists()
    # Signed in by the confirmation itself, and taken to a studio.
    page.wait_for_url(re.compile(r".*/w/[^/]+/$"))


def log_in(page, camera, *, email: str, password: str = PASSWORD):
    if "/accounts/login/" not in page.url:
        page.click("header >> text=Log in")
    camera.shot(page, "log in")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", password)
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r".*/(dashboard|invitations|w/[^/]+)/.*"))


def upload_selfie_with_file_picker(page, camera, path):
    # The person clicks "choose a photo" and picks the file in the system dialog.
    with page.expect_file_chooser() as chooser:
        page.click("#dropzone >> text=choose a photo")
    chooser.value.set_files(str(path))
    page.get_by_text(re.compile(r"Uploaded \(768×768\)")).wait_for()
    assert page.locator("#photo-list input[name=photo]:checked").count() == 1
    camera.shot(page, "selfie uploaded")


def place_order(page, *, styles: list[str], per_style: int) -> int:
    # A selfie can be ordered with once the face check has found the face; the photo
    # step then folds into one line that says so.
    page.locator("#photo-done").get_by_text("Face found").wait_for(timeout=60_000)
    for slug in styles:
        page.check(f"input[name=styles][value={slug}]")
    page.fill("#per-style", str(per_style))
    page.click("#order-button")
    page.wait_for_url(re.compile(r".*/orders/\d+/$"))
    return int(re.search(r"/orders/(\d+)/$", page.url).group(1))


@pytest.fixture
def selfie(tmp_path):
    path = tmp_path / "selfie.jpg"
    path.write_bytes(selfie_bytes())
    return path


def test_a_customer_signs_up_orders_watches_downloads_and_upgrades(
    portal, open_browser, stripe_test_server, start_worker, mailoutbox, selfie, tmp_path
):
    camera = Camera("customer")
    # Prices are read from Stripe's Price API: the test server must know the walk's.
    stripe_test_server.add_price(PREMIUM_PRICE, unit_amount=1900, currency="usd")
    stripe_test_server.add_price(TEAM_PRICE, unit_amount=1200, currency="usd")
    page = open_browser("customer").new_page()
    email = "alice@example.com"

    page.goto(portal + "/")
    page.get_by_text("one selfie").first.wait_for()
    camera.shot(page, "landing")
    sign_up_and_verify(
        page,
        camera,
        mailoutbox,
        portal=portal,
        email=email,
        start=page.locator("header").get_by_role("link", name="Get started"),
    )
    # One workspace: straight into its studio.
    workspace = Membership.objects.get(user__email=email).workspace
    assert page.url.endswith(f"/w/{workspace.slug}/")
    assert page.inner_text("#quota-remaining") == "8"
    assert page.locator("#upgrade-prompt").is_hidden()
    camera.shot(page, "studio")

    upload_selfie_with_file_picker(page, camera, selfie)
    # The face check needs the generator: it comes up, finds the face, and goes away
    # again, so that the order below is seen waiting for it.
    checker = start_worker()
    page.locator("#photo-done").get_by_text("Face found").wait_for(timeout=60_000)
    checker.stop()
    page.check("input[name=styles][value=corporate-grey]")
    page.check("input[name=styles][value=modern-office]")
    page.fill("#per-style", "2")
    page.get_by_text("You are ordering 4 headshots; 8 left this month.").wait_for()
    camera.shot(page, "styles picked")
    page.click("#order-button")
    page.wait_for_url(re.compile(r".*/orders/\d+/$"))
    order = Order.objects.for_workspace(workspace).get()
    assert page.url.endswith(f"/w/{workspace.slug}/orders/{order.pk}/")
    assert page.inner_text("#order-status") == "Queued"
    assert page.inner_text("#order-progress-text") == (
        "No generator is running right now. Your order is saved and starts as soon as one is."
    )
    assert page.locator("#order-zip").is_hidden()
    assert page.locator("#gallery figure").count() == 0
    camera.shot(page, "order queued")

    # The generator comes up only now, so the page is seen waiting first; from here on
    # it must follow the order by itself.
    page.evaluate(WATCH_ORDER_JS)
    # More denoising steps than the tests' default: the order takes a few seconds, so
    # the page (polling every 2 s) shows it part-way.
    start_worker(args=["--steps", "40"])
    page.wait_for_function(
        "() => ['Running', 'Succeeded'].includes(document.getElementById('order-status').textContent.trim())",
        timeout=240_000,
    )
    camera.shot(page, "order in progress")
    page.wait_for_function(
        "() => document.getElementById('order-status').textContent.trim() === 'Succeeded'",
        timeout=240_000,
    )
    assert page.evaluate("window.__sameDocument") is True, "the order page reloaded"
    statuses = page.evaluate("window.__statuses")
    assert statuses[0] == "Queued" and statuses[-1] == "Succeeded", statuses
    print("order page showed:", statuses, page.evaluate("window.__progress"))
    assert page.locator("#gallery figure").count() == 4
    assert page.locator("#order-progress-card").is_hidden()
    assert page.locator("#order-zip").is_visible()
    camera.shot(page, "gallery")
    order.refresh_from_db()
    assert (order.status, order.done, order.total) == ("succeeded", 4, 4)

    # The full-size viewer.
    page.click("#gallery figure >> nth=0 >> img")
    page.wait_for_selector("#viewer[open]")
    page.wait_for_function(
        "() => document.getElementById('viewer-image').complete && "
        "document.getElementById('viewer-image').naturalWidth > 0"
    )
    assert page.evaluate("document.getElementById('viewer-image').naturalWidth") == 1024
    camera.shot(page, "full size")
    page.click("#viewer-close")

    # One image, then the zip, downloaded as a person does.
    headshots = list(Headshot.objects.for_workspace(workspace).filter(order=order))
    with page.expect_download() as download:
        page.locator("#gallery figure").first.get_by_role("link", name="Full 1024 px").click()
    single = tmp_path / download.value.suggested_filename
    download.value.save_as(single)
    assert re.fullmatch(rf"headshot-{order.pk}-[a-z-]+-\d\.jpg", single.name), single.name
    with Image.open(single) as image:
        assert (image.format, image.size) == ("JPEG", (1024, 1024))
    with page.expect_download() as download:
        page.click("#order-zip")
    assert download.value.suggested_filename == f"headshots-order-{order.pk}.zip"
    archive = zipfile.ZipFile(io.BytesIO(open(download.value.path(), "rb").read()))
    assert len([name for name in archive.namelist() if "/" not in name]) == len(headshots) == 4
    assert len(archive.namelist()) == 4 * 3  # with the profile and website crops
    assert single.name in archive.namelist()
    for name in archive.namelist():
        with Image.open(io.BytesIO(archive.read(name))) as image:
            expected = {"profile": (819, 819), "website": (819, 1024)}
            assert image.size == expected.get(name.partition("/")[0], (1024, 1024)), name

    # Spend the rest of the month's quota, then hit it.
    page.locator("nav").get_by_role("link", name="Studio", exact=True).click()
    assert page.inner_text("#quota-remaining") == "4"
    place_order(page, styles=["black-and-white-studio"], per_style=4)
    page.locator("nav").get_by_role("link", name="Studio", exact=True).click()
    assert page.inner_text("#quota-remaining") == "0"
    assert page.locator("#upgrade-prompt").is_visible()
    page.check("input[name=styles][value=corporate-grey]")
    page.click("#order-button")
    page.locator("#order-error").get_by_text("has 0 left this month").wait_for()
    assert page.locator("#upgrade-prompt").is_visible()
    assert Order.objects.for_workspace(workspace).count() == 2
    camera.shot(page, "quota used up")

    # The upgrade prompt leads to checkout on (the test) Stripe.
    page.locator("#upgrade-prompt").get_by_role("link", name="Upgrade").click()
    page.wait_for_url(f"**/w/{workspace.slug}/billing/")
    camera.shot(page, "billing")
    page.get_by_role("button", name="Upgrade to Premium").click()
    page.wait_for_url(f"{stripe_test_server.url}/checkout/**")
    assert page.get_by_text(f"Quantity 1 of {PREMIUM_PRICE}").is_visible()
    camera.shot(page, "stripe checkout", phone=False, ours=False)
    page.get_by_role("button", name="Pay").click()
    # Paid: back in the studio, welcomed.
    page.wait_for_url(f"**/w/{workspace.slug}/")
    page.get_by_text("Welcome to Premium!").wait_for()
    camera.shot(page, "upgraded")
    assert entitlements(workspace).plan == "premium"
    usage = QuotaUsage.objects.for_workspace(workspace).get()
    assert usage.used == 8
    assert page.inner_text("#quota-remaining") == str(200 - 8)
    assert page.locator("#upgrade-prompt").is_hidden()
    camera.shot(page, "studio on premium")


def test_a_team_owner_invites_a_colleague_who_joins_and_orders(
    portal, open_browser, start_worker, mailoutbox, selfie
):
    from tests.factories import DEFAULT_PASSWORD, UserFactory

    camera = Camera("team")
    owner = UserFactory(email="olivia@example.com")
    colleague_email = "bob@example.com"

    owner_page = open_browser("owner").new_page()
    owner_page.goto(portal + "/accounts/login/")
    log_in(owner_page, camera, email=owner.email, password=DEFAULT_PASSWORD)
    owner_page.fill("input[name=name]", "Acme Photos")
    owner_page.get_by_role("button", name="Create team workspace").click()
    owner_page.wait_for_url("**/members/")
    team = Membership.objects.get(user=owner, workspace__name="Acme Photos").workspace
    camera.shot(owner_page, "team members")
    owner_page.fill("input[name=email]", colleague_email)
    owner_page.select_option("select[name=role]", "member")
    owner_page.get_by_role("button", name="Send invitation").click()
    owner_page.get_by_text(f"Invitation sent to {colleague_email}").wait_for()
    camera.shot(owner_page, "invitation sent")

    invitation_mail = next(m for m in mailoutbox if m.to == [colleague_email])
    invitation_link = link_in(invitation_mail, r"http://\S+/invitations/\S+/")
    assert invitation_link.startswith(portal)

    colleague = open_browser("colleague").new_page()
    colleague.goto(invitation_link)
    colleague.get_by_text("Join Acme Photos").wait_for()
    camera.shot(colleague, "invitation")
    sign_up_and_verify(
        colleague,
        camera,
        mailoutbox,
        portal=portal,
        email=colleague_email,
        start=colleague.locator("main").get_by_role("link", name="Sign up"),
    )
    # The invitation survived sign-up: confirming the address lands in the team's studio.
    colleague.wait_for_url(f"**/w/{team.slug}/")
    colleague.get_by_text("Welcome to Acme Photos").wait_for()
    camera.shot(colleague, "joined")
    membership = Membership.objects.get(user__email=colleague_email, workspace=team)
    assert membership.role == "member"

    upload_selfie_with_file_picker(colleague, camera, selfie)
    start_worker()
    order_id = place_order(colleague, styles=["modern-office"], per_style=1)
    colleague.wait_for_function(
        "() => document.getElementById('order-status').textContent.trim() === 'Succeeded'",
        timeout=240_000,
    )
    assert colleague.locator("#gallery figure").count() == 1
    camera.shot(colleague, "colleague's headshots")
    order = Order.objects.for_workspace(team).get(pk=order_id)
    assert order.placed_by.email == colleague_email
    assert order.status == "succeeded"

    # The owner pays for the team, so sees every member's orders.
    owner_page.goto(f"{portal}/w/{team.slug}/orders/")
    assert owner_page.locator(f"a[href$='/orders/{order_id}/']").count() >= 1
    camera.shot(owner_page, "team orders")
