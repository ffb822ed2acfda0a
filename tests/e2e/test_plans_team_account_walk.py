"""The money, the team and the account, walked in Chromium: prices on every page, billing
not configured, resuming a plan set to end, an invitation through sign-up, the team
dashboard, and an account's data downloaded and deleted.

Headshots here come from the worker's own services (tests/generation/worker.py), not a
worker process: these walks are about the pages around them. Screenshots of every page,
at desktop and phone width (which must not scroll sideways), land in
tests/artifacts/e2e/<walk>/.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Invitation, Membership, User
from billing.models import Subscription
from generation import services as generation_services
from generation.models import Headshot, Style
from tests.billing.conftest import customer_for, subscription_for
from tests.e2e.browser import Camera
from tests.e2e.conftest import PREMIUM_PRICE, TEAM_PRICE
from tests.e2e.support import link_in
from tests.factories import DEFAULT_PASSWORD, MembershipFactory, UserFactory, checked_photo
from tests.generation import imagefiles
from tests.generation.worker import deliver

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "a-long-enough-passphrase"


def log_in(page, portal: str, email: str, password: str = DEFAULT_PASSWORD) -> None:
    page.goto(f"{portal}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", password)
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r".*/(dashboard|w/[^/]+)/$"))


def delivered_order(workspace, user, *, styles: int = 1, per_style: int = 2):
    photo = generation_services.photo_upload(
        workspace=workspace, user=user, upload=imagefiles.upload(imagefiles.jpeg())
    )
    # Selfies are ordered with only once the face check has passed.
    checked_photo(photo)
    slugs = list(Style.objects.filter(tier="free").values_list("slug", flat=True)[:styles])
    order = generation_services.order_create(
        workspace=workspace, user=user, photo=photo, style_slugs=slugs, per_style=per_style
    )
    return deliver(order)


def test_prices_everywhere_and_billing_not_configured_and_resume(
    portal, open_browser, stripe_test_server, settings
):
    camera = Camera("plans")
    stripe_test_server.add_price(PREMIUM_PRICE, unit_amount=1900, currency="usd")
    stripe_test_server.add_price(TEAM_PRICE, unit_amount=1200, currency="usd")
    page = open_browser("visitor").new_page()

    page.goto(portal + "/")
    premium = page.locator("[data-plan=premium]")
    assert "$19.00" in premium.inner_text() and "a month" in premium.inner_text()
    assert "$12.00" in page.locator("[data-plan=team]").inner_text()
    assert "per seat" in page.locator("[data-plan=team]").inner_text()
    camera.shot(page, "landing with prices")
    page.locator("footer").get_by_role("link", name="Pricing").click()
    page.wait_for_url("**/billing/pricing/")
    assert "$19.00" in page.locator("[data-plan=premium]").inner_text()
    camera.shot(page, "pricing")
    plans = json.loads(page.request.get(portal + "/api/v1/plans/").text())
    assert [plan["price"] and plan["price"]["display"] for plan in plans] == [
        None,
        "$19.00 a month",
        "$12.00 per seat a month",
    ]

    # A team owner on Free: the prices on the billing page and in the studio's prompt.
    owner = UserFactory(email="owner@example.com")
    team = MembershipFactory(user=owner, workspace__name="Acme").workspace
    log_in(page, portal, owner.email)
    page.goto(f"{portal}/w/{team.slug}/billing/")
    assert "$12.00" in page.locator("form[data-plan=team]").inner_text()
    assert page.get_by_role("button", name="Upgrade to Team").is_enabled()
    camera.shot(page, "billing with prices")
    page.locator("nav").get_by_role("link", name="Studio", exact=True).click()
    page.wait_for_url(f"**/w/{team.slug}/")
    prompt = page.locator("#upgrade-prompt")
    prompt.evaluate("element => { element.hidden = false; }")
    assert "$12.00 per seat a month" in prompt.inner_text()
    camera.shot(page, "studio upgrade prompt with price")

    # Stripe not configured: customers read "not available yet", never the setting.
    settings.STRIPE_SECRET_KEY = ""
    settings.PRICE_DISPLAY_PREMIUM = "19.00 USD month"
    settings.PRICE_DISPLAY_TEAM = "12.00 USD month"
    page.goto(f"{portal}/w/{team.slug}/billing/")
    page.get_by_text("Upgrades are not available yet.").first.wait_for()
    assert page.get_by_role("button", name="Upgrade to Team").is_disabled()
    assert page.get_by_role("button", name="Upgrade to Premium").is_disabled()
    assert "STRIPE" not in page.content()
    assert "$12.00" in page.locator("form[data-plan=team]").inner_text()
    camera.shot(page, "billing not configured")

    # Back on Stripe: a plan set to end with its period is resumed from the billing page.
    settings.STRIPE_SECRET_KEY = "sk_test_e2e"
    customer = customer_for(team)
    ends = timezone.now() + timedelta(days=9)
    stripe_test_server.add_subscription(
        id="sub_ending",
        customer=customer,
        price=TEAM_PRICE,
        quantity=3,
        cancel_at_period_end=True,
        period_end=int(ends.timestamp()),
    )
    subscription_for(
        team,
        stripe_subscription_id="sub_ending",
        stripe_customer_id=customer,
        plan="team",
        quantity=3,
        cancel_at_period_end=True,
        current_period_end=ends,
    )
    page.goto(f"{portal}/w/{team.slug}/billing/")
    page.get_by_text("then back to Free").wait_for()
    camera.shot(page, "billing plan set to end")
    page.get_by_role("button", name="Resume Team").click()
    page.get_by_text("Team goes on: it renews on").wait_for()
    assert not Subscription.objects.for_workspace(team).get().cancel_at_period_end
    assert stripe_test_server.subscriptions["sub_ending"]["cancel_at_period_end"] is False
    camera.shot(page, "billing resumed")

    # Paying lands in the studio with a welcome, not on a thank-you dead end.
    solo = UserFactory(email="solo@example.com")
    personal = MembershipFactory(
        user=solo, workspace__kind="personal", workspace__name="Personal"
    ).workspace
    buyer = open_browser("solo").new_page()
    log_in(buyer, portal, solo.email)
    assert buyer.url.endswith(f"/w/{personal.slug}/"), "one workspace: straight to its studio"
    buyer.locator("nav").get_by_role("link", name="Billing").click()
    buyer.get_by_role("button", name="Upgrade to Premium").click()
    buyer.wait_for_url(f"{stripe_test_server.url}/checkout/**")
    buyer.get_by_role("button", name="Pay").click()
    buyer.wait_for_url(f"**/w/{personal.slug}/")
    buyer.get_by_text("Welcome to Premium!").wait_for()
    assert buyer.inner_text("#quota-remaining") == "200"
    camera.shot(buyer, "studio welcome after payment")


def test_an_invitation_survives_sign_up_and_dead_links_say_why(portal, open_browser, mailoutbox):
    camera = Camera("invitation")
    owner = UserFactory(email="olivia@example.com")
    team = MembershipFactory(user=owner, workspace__name="Acme Photos").workspace
    invitation = account_services.invitation_create(
        workspace=team, invited_by=owner, email="bob@example.com"
    )
    link = account_services.invitation_url(invitation)
    page = open_browser("bob").new_page()

    page.goto(link)
    page.get_by_text("Join Acme Photos").wait_for()
    camera.shot(page, "invitation")
    page.locator("main").get_by_role("link", name="Sign up").click()
    page.wait_for_url("**/accounts/signup/**")
    email = page.locator("input[name=email]")
    assert email.input_value() == "bob@example.com"
    assert email.get_attribute("readonly") is not None
    camera.shot(page, "sign up with the invited address")

    # A mistake: its message sits under the field it is about.
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD + "x")
    page.click("main form button[type=submit]")
    error = page.locator(".field-invalid .errorlist").first
    error.wait_for()
    field_box = page.locator(".field-invalid input").first.bounding_box()
    assert error.bounding_box()["y"] > field_box["y"]
    camera.shot(page, "sign up error under its field")

    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    sent = len(mailoutbox)
    page.click("main form button[type=submit]")
    page.get_by_text("Verify Your Email Address").wait_for()
    [message] = [m for m in mailoutbox[sent:] if m.to == ["bob@example.com"]]
    assert "Headshot Studio" in message.subject and "Headshot Studio" in message.body
    page.goto(link_in(message, r"http://\S+/accounts/confirm-email/\S+/"))
    page.click("main form button[type=submit]")
    page.wait_for_url(f"**/w/{team.slug}/")
    page.get_by_text("Welcome to Acme Photos!").wait_for()
    assert Membership.objects.filter(workspace=team, user__email="bob@example.com").exists()
    camera.shot(page, "signed in in the team studio")

    # The link again, now used: it says so, and a member is taken to the studio.
    page.goto(link)
    page.wait_for_url(f"**/w/{team.slug}/")
    visitor = open_browser("visitor").new_page()
    visitor.goto(link)
    visitor.get_by_text("Invitation already used").wait_for()
    camera.shot(visitor, "used invitation")
    withdrawn = account_services.invitation_create(
        workspace=team, invited_by=owner, email="carol@example.com"
    )
    account_services.invitation_revoke(invitation=withdrawn, revoked_by=owner)
    visitor.goto(account_services.invitation_url(withdrawn))
    visitor.get_by_text("Invitation withdrawn").wait_for()
    camera.shot(visitor, "withdrawn invitation")
    expired = account_services.invitation_create(
        workspace=team, invited_by=owner, email="dan@example.com"
    )
    Invitation.objects.filter(pk=expired.pk).update(expires_at=timezone.now())
    visitor.goto(account_services.invitation_url(expired))
    visitor.get_by_text("Invitation expired").wait_for()
    camera.shot(visitor, "expired invitation")

    # Someone already signed up sees a pending invitation on their dashboard.
    erin = UserFactory(email="erin@example.com")
    MembershipFactory(user=erin, workspace__kind="personal", workspace__name="Personal")
    account_services.invitation_create(workspace=team, invited_by=owner, email=erin.email)
    erin_page = open_browser("erin").new_page()
    log_in(erin_page, portal, erin.email)
    assert erin_page.url.endswith("/dashboard/")
    card = erin_page.locator(".card-invitation")
    assert "Acme Photos" in card.inner_text()
    camera.shot(erin_page, "dashboard with a pending invitation")
    card.get_by_role("button", name="Accept and open the studio").click()
    erin_page.wait_for_url(f"**/w/{team.slug}/")


def test_the_team_dashboard(portal, open_browser, mailoutbox, tmp_path):
    camera = Camera("team-dashboard")
    owner = UserFactory(email="olivia@example.com", full_name="Olivia Owner")
    team = MembershipFactory(user=owner, workspace__name="Acme Photos").workspace
    subscription_for(team, plan="team", quantity=6)
    ada = MembershipFactory(
        workspace=team, role="member", user__email="ada.lovelace@example.com"
    ).user
    grace = MembershipFactory(workspace=team, role="member", user__email="grace@example.com").user
    MembershipFactory(workspace=team, role="member", user__email="linus@example.com")
    generation_services.photo_upload(
        workspace=team, user=grace, upload=imagefiles.upload(imagefiles.jpeg())
    )
    order = delivered_order(team, ada)
    account_services.invitation_create(
        workspace=team, invited_by=owner, email="ken.thompson@example.com"
    )

    # Ada picks her headshot for the company's website.
    ada_page = open_browser("ada").new_page()
    log_in(ada_page, portal, ada.email)
    ada_page.goto(f"{portal}/w/{team.slug}/orders/{order.pk}/")
    ada_page.get_by_role("button", name="☆ Choose for the team page").first.click()
    ada_page.get_by_text("Chosen: your team's admins will get this one").wait_for()
    assert Headshot.objects.for_workspace(team).filter(chosen_at__isnull=False).count() == 1
    camera.shot(ada_page, "member chose a headshot")

    page = open_browser("owner").new_page()
    log_in(page, portal, owner.email)
    page.locator("nav").get_by_role("link", name="Members").click()
    page.wait_for_url(f"**/w/{team.slug}/members/")
    rows = page.locator(".member-row")
    assert "Headshots ready" in rows.filter(has_text="ada.lovelace@").inner_text()
    assert "Selfie uploaded" in rows.filter(has_text="grace@").inner_text()
    assert "Joined" in rows.filter(has_text="linus@").inner_text()
    assert "Invited" in rows.filter(has_text="ken.thompson@").inner_text()
    assert "4 of 6 seats used" in page.locator(".team-summary").inner_text()
    camera.shot(page, "team dashboard")

    # A reminder for the pending invitation.
    rows.filter(has_text="ken.thompson@").get_by_role("button", name="Send a reminder").click()
    page.get_by_text("The invitation to ken.thompson@example.com is on its way again.").wait_for()
    assert any(m.to == ["ken.thompson@example.com"] for m in mailoutbox)

    # Bulk invite: one bad row refuses the list, each row says why.
    page.fill(
        "textarea[name=bulk-emails]",
        "Barbara <barbara@example.com>\nnot an address\ngrace@example.com\nmargaret@example.com",
    )
    page.get_by_role("button", name="Invite everyone on the list").click()
    page.get_by_text("Nobody was invited").wait_for()
    errors = page.locator(".bulk-error-list").inner_text()
    assert "Row 2" in errors and "Not an email address." in errors
    assert "Row 3" in errors and "Already a member." in errors
    assert not Invitation.objects.filter(email="barbara@example.com").exists()
    camera.shot(page, "bulk invite errors")
    csv_path = tmp_path / "staff.csv"
    csv_path.write_text("Name,Email\nBarbara,barbara@example.com\nMargaret,margaret@example.com\n")
    page.fill("textarea[name=bulk-emails]", "")
    page.set_input_files("input[name=bulk-csv_file]", str(csv_path))
    page.get_by_role("button", name="Invite everyone on the list").click()
    page.get_by_text("2 invitations sent.").wait_for()
    camera.shot(page, "bulk invite sent")

    # Every member's chosen headshots in one zip.
    with page.expect_download() as download:
        page.get_by_role("link", name="Download all chosen (zip)").click()
    archive = zipfile.ZipFile(io.BytesIO(open(download.value.path(), "rb").read()))
    [name] = archive.namelist()
    assert name.startswith("ada.lovelace_at_example.com/headshot-")

    # The styles the team's members may order, which its admins choose.
    page.locator("nav").get_by_role("link", name="Styles").click()
    page.wait_for_url(f"**/w/{team.slug}/styles/")
    camera.shot(page, "team styles")

    # The orders list names who placed each order.
    page.locator("nav").get_by_role("link", name="Orders").click()
    assert "ada.lovelace@example.com" in page.locator("td.placed-by").first.inner_text()
    camera.shot(page, "team orders with who placed them")


def test_privacy_terms_download_and_delete_my_account(portal, open_browser):
    camera = Camera("account")
    user = UserFactory(email="alice@example.com")
    personal = MembershipFactory(
        user=user, workspace__kind="personal", workspace__name="Personal"
    ).workspace
    order = delivered_order(personal, user)
    stored = [h.file.name for h in Headshot.objects.for_workspace(personal)]
    team = MembershipFactory(user=user, workspace__name="Alice's Agency").workspace
    colleague = MembershipFactory(workspace=team, role="member").user
    page = open_browser("alice").new_page()

    page.goto(portal + "/")
    page.locator("footer").get_by_role("link", name="Privacy").click()
    page.get_by_text("Never used for training.").wait_for()
    camera.shot(page, "privacy")
    page.locator("footer").get_by_role("link", name="Terms").click()
    page.get_by_role("heading", name="Terms of service").wait_for()
    camera.shot(page, "terms")

    log_in(page, portal, user.email)
    page.locator("nav").get_by_role("link", name="Account").click()
    page.wait_for_url("**/account/")
    # The only owner of a team with a member: told what to do first.
    page.get_by_text("First hand over your team").wait_for()
    camera.shot(page, "account blocked by a team")
    page.locator("nav").get_by_role("link", name="API tokens").click()
    page.fill("input[name=name]", "laptop")
    page.get_by_role("button", name="Make token").click()
    page.get_by_text("Your new token “laptop”").wait_for()
    camera.shot(page, "api tokens")
    page.locator("nav").get_by_role("link", name="Account").click()
    page.wait_for_url("**/account/")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download my data").click()
    archive = zipfile.ZipFile(io.BytesIO(open(download.value.path(), "rb").read()))
    data = json.loads(archive.read("data.json"))
    assert [o["id"] for o in data["orders"]] == [order.pk]
    assert len([n for n in archive.namelist() if n.startswith("headshots/")]) == 2

    # Hand the team over, then delete.
    page.goto(f"{portal}/w/{team.slug}/members/")
    page.select_option("select[name=role] >> nth=0", "owner")
    page.locator(".role-form").first.get_by_role("button", name="Change").click()
    page.get_by_text(f"{colleague.email} is now owner.").wait_for()
    page.goto(f"{portal}/account/")
    page.fill("input[name=password]", "not my password")
    page.get_by_role("button", name="Delete my account and data").click()
    page.get_by_text("That password is not right.").wait_for()
    camera.shot(page, "account wrong password")
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.get_by_role("button", name="Delete my account and data").click()
    page.get_by_text("Your account and everything in it are deleted.").wait_for()
    camera.shot(page, "account deleted")
    assert not User.objects.filter(email="alice@example.com").exists()
    from django.core.files.storage import default_storage

    assert not any(default_storage.exists(name) for name in stored)
    assert Membership.objects.get(workspace=team, user=colleague).role == "owner"
