"""The billing page, pricing, the past-due banner, the admin and the API schema."""

from datetime import timedelta

import pytest
from django.urls import include, path
from django.utils import timezone
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator

from billing.models import StripeEvent
from billing.views import workspace_billing_page
from tests.billing.conftest import customer_for, subscription_for
from tests.conftest import staff_signed_in
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def billing_page(client, user, workspace) -> str:
    client.force_login(user)
    response = client.get(f"/w/{workspace.slug}/billing/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_free_workspace_offers_the_upgrades_to_its_admins(client, user, workspace):
    page = billing_page(client, user, workspace)
    assert "badge-free" in page
    assert "Upgrade to Premium" in page and "Upgrade to Team" in page
    assert "Manage billing" not in page


def test_personal_workspaces_are_not_offered_team(client, user):
    personal = MembershipFactory(user=user, workspace__kind="personal").workspace
    page = billing_page(client, user, personal)
    assert "Upgrade to Premium" in page and "Upgrade to Team" not in page


def test_a_paying_workspace_shows_plan_renewal_usage_and_manage(client, user, workspace):
    customer_for(workspace)
    renews = timezone.now() + timedelta(days=12)
    subscription_for(workspace, plan="team", quantity=3, current_period_end=renews)
    page = billing_page(client, user, workspace)
    assert "badge-team" in page and "3 seats" in page
    assert f"Renews on {renews:%b} {renews.day}, {renews.year}" in page
    assert "600" in page and "4096 px" in page
    assert "Manage billing" in page and "Upgrade to" not in page


def test_usage_this_month_comes_from_generation(client, user, workspace):
    selectors = pytest.importorskip("generation.selectors")
    assert selectors.quota_status(workspace=workspace).used == 0
    page = billing_page(client, user, workspace)
    assert "<strong>0</strong> of 8 headshots used" in page


def test_without_usage_the_page_shows_the_quota_alone(rf, user, workspace):
    # Billing renders its page from what it knows; usage comes from the layer above.
    request = rf.get("/")
    request.user = user
    membership = workspace.memberships.get(user=user)
    page = workspace_billing_page(request, membership, usage=None).content.decode()
    assert "<strong>8</strong> headshots a month" in page
    assert "headshots used" not in page


def test_members_see_the_plan_but_no_buttons(client, workspace):
    member = MembershipFactory(workspace=workspace, role="member").user
    page = billing_page(client, member, workspace)
    assert "badge-free" in page
    assert "Upgrade to" not in page and "Only the workspace" in page


def test_outsiders_get_404(client, workspace, outsider):
    client.force_login(outsider)
    assert client.get(f"/w/{workspace.slug}/billing/").status_code == 404


def test_pricing_compares_the_tiers_publicly(client):
    page = client.get("/billing/pricing/").content.decode()
    for expected in (
        "Free",
        "Premium",
        "Team",
        "per seat",
        "4096 px",
        "1024 px",
        "90 days",
        "7 days",
    ):
        assert expected in page
    assert "/billing/pricing/" in client.get("/").content.decode()


def test_after_payment_the_studio_welcomes_and_a_cancel_says_nothing_was_charged(
    client, user, workspace
):
    client.force_login(user)
    response = client.get(f"/w/{workspace.slug}/billing/success/?plan=premium", follow=True)
    assert response.redirect_chain[-1][0] == f"/w/{workspace.slug}/"
    assert "Welcome to Premium!" in response.content.decode()
    canceled = client.get(f"/w/{workspace.slug}/billing/canceled/").content.decode()
    assert "Nothing was charged" in canceled


def test_the_past_due_banner_asks_admins_to_update_and_members_to_ask(client, user, workspace):
    subscription_for(
        workspace, status="past_due", past_due_since=timezone.now() - timedelta(days=1)
    )
    page = billing_page(client, user, workspace)
    assert "Payment for" in page and "Update payment details" in page
    member = MembershipFactory(workspace=workspace, role="member").user
    client.force_login(member)
    page = client.get(f"/w/{workspace.slug}/members/").content.decode()
    assert "Payment for" in page and "Ask the workspace owner" in page


def test_admin_lists_subscriptions_and_events_searchable_by_workspace_and_customer(
    client, workspace
):
    customer_for(workspace, "cus_findme")
    subscription_for(workspace, stripe_customer_id="cus_findme")
    StripeEvent.objects.create(
        event_id="evt_findme",
        type="invoice.paid",
        created=timezone.now(),
        outcome="applied",
        workspace=workspace,
        stripe_customer_id="cus_findme",
        payload={},
    )
    staff_signed_in(client, UserFactory(is_staff=True, is_superuser=True))
    for model in ("subscription", "stripeevent", "billingaccount"):
        for query in (workspace.slug, "cus_findme"):
            response = client.get(f"/admin/billing/{model}/", {"q": query})
            assert response.status_code == 200
            assert "0 results" not in response.content.decode(), (model, query)
            assert workspace.name in response.content.decode(), (model, query)


def test_the_api_schema_builds_without_warnings():
    GENERATOR_STATS.reset()
    generator = SchemaGenerator(patterns=[path("api/v1/", include("billing.api_urls"))])
    schema = generator.get_schema(request=None, public=True)
    assert not GENERATOR_STATS, "drf-spectacular warned about the billing API"
    checkout = schema["paths"]["/api/v1/workspaces/{wid}/billing/checkout/"]["post"]
    assert set(checkout["responses"]) == {"201", "400", "401", "403", "404", "409", "415", "503"}
    assert "/api/v1/workspaces/{wid}/billing/portal/" in schema["paths"]
