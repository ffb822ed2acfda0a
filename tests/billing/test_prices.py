"""Prices on every page and in the API, read from Stripe over HTTP and cached; the
display setting without Stripe; "not available yet" when nothing can be sold; resume."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from billing.models import Subscription
from billing.prices import price_from_display_setting
from tests.billing.conftest import PREMIUM_PRICE, TEAM_PRICE, customer_for, subscription_for
from tests.conftest import api_client_for, staff_signed_in
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_price_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def priced(stripe_server):
    stripe_server.add_price(PREMIUM_PRICE, unit_amount=1900, currency="usd")
    stripe_server.add_price(TEAM_PRICE, unit_amount=1200, currency="eur")
    return stripe_server


@pytest.fixture
def no_stripe(settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_WEBHOOK_SECRET = ""
    settings.STRIPE_PRICE_PREMIUM = ""
    settings.STRIPE_PRICE_TEAM = ""
    settings.PRICE_DISPLAY_PREMIUM = ""
    settings.PRICE_DISPLAY_TEAM = ""
    return settings


def plans_by_code() -> dict:
    response = APIClient().get("/api/v1/plans/")
    assert response.status_code == 200
    return {plan["code"]: plan for plan in response.json()}


def test_plans_api_is_public_and_reads_each_price_from_stripe_once(priced):
    plans = plans_by_code()
    assert list(plans) == ["free", "premium", "team"]
    assert plans["premium"]["price"] == {
        "amount": "19.00",
        "currency": "usd",
        "interval": "month",
        "per_seat": False,
        "display": "$19.00 a month",
    }
    assert plans["team"]["price"]["display"] == "€12.00 per seat a month"
    assert plans["team"]["per_seat"] is True
    assert plans["premium"]["entitlements"]["monthly_quota"] == 200
    assert plans["free"]["price"] is None and plans["free"]["available"] is True
    assert plans["premium"]["available"] and plans["team"]["available"]

    plans_by_code()
    # Cached: the second call and the page views never reach Stripe again.
    assert len(priced.requests_to("GET", f"/v1/prices/{PREMIUM_PRICE}")) == 1
    assert len(priced.requests_to("GET", f"/v1/prices/{TEAM_PRICE}")) == 1


def test_a_changed_stripe_price_shows_once_the_cache_expires(priced):
    assert plans_by_code()["premium"]["price"]["display"] == "$19.00 a month"
    priced.add_price(PREMIUM_PRICE, unit_amount=2500, currency="usd")
    assert plans_by_code()["premium"]["price"]["display"] == "$19.00 a month"
    cache.clear()
    assert plans_by_code()["premium"]["price"]["display"] == "$25.00 a month"


def test_without_stripe_the_display_setting_gives_the_price(no_stripe):
    no_stripe.PRICE_DISPLAY_PREMIUM = "19.00 USD month"
    no_stripe.PRICE_DISPLAY_TEAM = "1500 JPY month"
    plans = plans_by_code()
    assert plans["premium"]["price"]["display"] == "$19.00 a month"
    assert plans["team"]["price"]["display"] == "1500 JPY per seat a month"
    assert plans["premium"]["available"] is False


def test_a_stripe_price_that_is_gone_falls_back_to_the_display_setting(stripe_server, settings):
    settings.PRICE_DISPLAY_PREMIUM = "21.00 USD month"
    assert plans_by_code()["premium"]["price"]["display"] == "$21.00 a month"
    assert plans_by_code()["team"]["price"] is None


@pytest.mark.parametrize(
    "value", ["", "19", "19.00 USD", "nineteen USD month", "19 USD fortnight", "NaN USD month"]
)
def test_a_malformed_display_setting_is_refused(value):
    with pytest.raises(ValueError, match="AMOUNT CURRENCY INTERVAL"):
        price_from_display_setting(value, per_seat=False)


def test_the_landing_pricing_and_billing_pages_and_the_studio_prompt_show_prices(
    client, user, workspace, priced
):
    assert "$19.00" in client.get("/").content.decode()
    pricing = client.get("/billing/pricing/").content.decode()
    assert "$19.00" in pricing and "€12.00" in pricing and "per seat" in pricing
    client.force_login(user)
    billing = client.get(f"/w/{workspace.slug}/billing/").content.decode()
    assert "€12.00" in billing and "Upgrade to Team" in billing
    assert "not available yet" not in billing
    studio = client.get(f"/w/{workspace.slug}/").content.decode()
    assert "€12.00 per seat a month" in studio


def test_not_configured_customers_read_not_available_and_buttons_are_disabled(
    client, user, workspace, no_stripe
):
    client.force_login(user)
    billing = client.get(f"/w/{workspace.slug}/billing/").content.decode()
    assert "Upgrades are not available yet." in billing
    assert billing.count('disabled aria-disabled="true">Upgrade to') == 2
    assert "STRIPE_" not in billing
    assert "Upgrades are not available yet." in client.get("/billing/pricing/").content.decode()
    assert "Upgrades are not available yet." in client.get(f"/w/{workspace.slug}/").content.decode()


def test_staff_see_what_is_missing_in_the_admin(client, no_stripe):
    staff = UserFactory(is_staff=True, is_superuser=True)
    staff_signed_in(client, staff)
    response = client.get("/admin/billing/subscription/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "STRIPE_SECRET_KEY is not set: nobody can upgrade." in page
    assert "STRIPE_PRICE_TEAM is not set" in page


def resumable(workspace, stripe_server) -> Subscription:
    customer = customer_for(workspace)
    ends = int((timezone.now() + timedelta(days=10)).timestamp())
    remote = stripe_server.add_subscription(
        id="sub_resume",
        customer=customer,
        price=PREMIUM_PRICE,
        cancel_at_period_end=True,
        period_end=ends,
    )
    return subscription_for(
        workspace,
        stripe_subscription_id=remote["id"],
        cancel_at_period_end=True,
        stripe_customer_id=customer,
    )


def test_a_plan_set_to_end_is_resumed_from_the_billing_page(client, user, workspace, priced):
    resumable(workspace, priced)
    client.force_login(user)
    page = client.get(f"/w/{workspace.slug}/billing/").content.decode()
    assert "Resume Premium" in page and "Upgrade to" not in page

    response = client.post(f"/w/{workspace.slug}/billing/resume/", follow=True)

    [call] = priced.requests_to("POST", "/v1/subscriptions/sub_resume")
    assert call.form == {"cancel_at_period_end": "false"}
    assert priced.subscriptions["sub_resume"]["cancel_at_period_end"] is False
    subscription = Subscription.objects.for_workspace(workspace).get()
    assert subscription.cancel_at_period_end is False
    page = response.content.decode()
    assert "Premium goes on" in page and "Renews on" in page and "Resume Premium" not in page


def test_resume_api_and_its_refusals(user, workspace, priced):
    api = api_client_for(user)
    url = f"/api/v1/workspaces/{workspace.pk}/billing/resume/"
    response = api.post(url)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "nothing_to_resume"

    resumable(workspace, priced)
    member = MembershipFactory(workspace=workspace, role="member").user
    assert api_client_for(member).post(url).status_code == 403
    assert priced.requests_to("POST", "/v1/subscriptions/sub_resume") == []

    response = api.post(url)
    assert response.status_code == 200
    assert response.json()["plan"] == "premium"


def test_a_subscription_canceled_outright_can_check_out_again_inside_its_period(
    user, workspace, priced
):
    subscription_for(workspace, status=Subscription.Status.CANCELED)
    response = api_client_for(user).post(
        f"/api/v1/workspaces/{workspace.pk}/billing/checkout/", {"plan": "premium"}
    )
    assert response.status_code == 201
