"""Checkout and the customer portal, through stripe-python's real HTTP stack against
the loopback Stripe."""

import pytest

from billing.models import BillingAccount
from billing.stripe_api import STRIPE_API_VERSION
from tests.billing.conftest import PREMIUM_PRICE, TEAM_PRICE, customer_for, subscription_for
from tests.conftest import api_client_for
from tests.factories import MembershipFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


def checkout_url(workspace) -> str:
    return f"/api/v1/workspaces/{workspace.pk}/billing/checkout/"


def portal_url(workspace) -> str:
    return f"/api/v1/workspaces/{workspace.pk}/billing/portal/"


def test_premium_checkout_sends_customer_price_quantity_reference_and_keys(
    api, user, workspace, stripe_server
):
    response = api.post(checkout_url(workspace), {"plan": "premium"}, format="json")

    assert response.status_code == 201, response.content
    session_url = response.json()["url"]
    assert session_url.startswith(f"{stripe_server.url}/checkout/cs_test_")

    [customer_call] = stripe_server.requests_to("POST", "/v1/customers")
    assert customer_call.form["metadata[workspace_id]"] == str(workspace.pk)
    assert customer_call.form["email"] == user.email
    assert customer_call.idempotency_key == (
        f"customer-create-workspace-{workspace.pk}-{int(workspace.created_at.timestamp())}"
    )
    customer_id = BillingAccount.objects.for_workspace(workspace).get().stripe_customer_id
    assert customer_id in stripe_server.customers

    [session_call] = stripe_server.requests_to("POST", "/v1/checkout/sessions")
    form = session_call.form
    assert form["mode"] == "subscription"
    assert form["customer"] == customer_id
    assert form["client_reference_id"] == str(workspace.pk)
    assert form["line_items[0][price]"] == PREMIUM_PRICE
    assert form["line_items[0][quantity]"] == "1"
    assert form["subscription_data[metadata][workspace_id]"] == str(workspace.pk)
    assert form["success_url"].endswith(f"/w/{workspace.slug}/billing/success/?plan=premium")
    assert form["cancel_url"].endswith(f"/w/{workspace.slug}/billing/canceled/")
    assert session_call.idempotency_key.startswith(f"checkout-session-{workspace.pk}-")
    assert session_call.headers["stripe-version"] == STRIPE_API_VERSION
    assert session_call.headers["authorization"] == "Bearer sk_test_fake"


def test_the_customer_is_created_once_and_reused(api, workspace, stripe_server):
    for _ in range(2):
        assert api.post(checkout_url(workspace), {"plan": "premium"}).status_code == 201
    assert len(stripe_server.requests_to("POST", "/v1/customers")) == 1
    sessions = stripe_server.requests_to("POST", "/v1/checkout/sessions")
    assert len({call.form["customer"] for call in sessions}) == 1
    assert len({call.idempotency_key for call in sessions}) == 2


def test_team_checkout_buys_a_seat_per_member_by_default(api, workspace, stripe_server):
    MembershipFactory.create_batch(2, workspace=workspace, role="member")
    assert api.post(checkout_url(workspace), {"plan": "team"}).status_code == 201
    [call] = stripe_server.requests_to("POST", "/v1/checkout/sessions")
    assert (call.form["line_items[0][price]"], call.form["line_items[0][quantity]"]) == (
        TEAM_PRICE,
        "3",
    )


def test_team_admins_may_buy_more_seats_but_never_fewer_than_members(api, workspace, stripe_server):
    MembershipFactory(workspace=workspace, role="member")
    assert api.post(checkout_url(workspace), {"plan": "team", "seats": 10}).status_code == 201
    assert stripe_server.requests[-1].form["line_items[0][quantity]"] == "10"

    response = api.post(checkout_url(workspace), {"plan": "team", "seats": 1})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "too_few_seats"


def test_team_needs_a_team_workspace(user, stripe_server):
    personal = MembershipFactory(user=user, workspace=WorkspaceFactory(kind="personal")).workspace
    response = api_client_for(user).post(checkout_url(personal), {"plan": "team"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "team_workspace_required"


@pytest.mark.parametrize("body", [{"plan": "gold"}, {"plan": "free"}, {}, {"plan": ["premium"]}])
def test_bad_plans_are_400_in_the_error_shape(api, workspace, stripe_server, body):
    response = api.post(checkout_url(workspace), body, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]) >= {"code", "message"}
    assert stripe_server.requests == []


def test_a_workspace_already_paying_cannot_check_out_again(api, workspace, stripe_server):
    subscription_for(workspace)
    response = api.post(checkout_url(workspace), {"plan": "premium"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_subscribed"


def test_members_without_admin_role_get_403_and_outsiders_404(workspace, outsider, stripe_server):
    member = MembershipFactory(workspace=workspace, role="member").user
    for path in (checkout_url(workspace), portal_url(workspace)):
        assert api_client_for(member).post(path, {"plan": "premium"}).status_code == 403
        assert api_client_for(outsider).post(path, {"plan": "premium"}).status_code == 404
    admin = MembershipFactory(workspace=workspace, role="admin").user
    assert (
        api_client_for(admin).post(checkout_url(workspace), {"plan": "premium"}).status_code == 201
    )
    assert stripe_server.requests_to("POST", "/v1/checkout/sessions")


def test_stripe_not_configured_is_a_clear_503_and_the_detail_goes_to_the_log(
    api, workspace, settings, caplog
):
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_PRICE_PREMIUM = "price_x"
    response = api.post(checkout_url(workspace), {"plan": "premium"})
    assert response.status_code == 503
    assert response.json()["error"] == {
        "code": "billing_not_configured",
        "message": "Upgrades are not available yet.",
    }
    assert "STRIPE_SECRET_KEY is not set" in caplog.text


def test_a_plan_without_a_price_is_a_clear_503(api, workspace, stripe_server, settings, caplog):
    settings.STRIPE_PRICE_PREMIUM = ""
    response = api.post(checkout_url(workspace), {"plan": "premium"})
    assert response.status_code == 503
    assert response.json()["error"]["message"] == "Upgrades are not available yet."
    assert "STRIPE_PRICE_PREMIUM is not set" in caplog.text


def test_stripe_refusing_the_request_is_a_503_not_a_500(api, workspace, stripe_server, settings):
    settings.STRIPE_PRICE_PREMIUM = "price_deleted_in_stripe"
    response = api.post(checkout_url(workspace), {"plan": "premium"})
    assert response.status_code == 503
    assert "No such price" in response.json()["error"]["message"]


def test_portal_session_for_the_workspace_customer(api, workspace, stripe_server):
    customer_id = "cus_portal"
    stripe_server.customers[customer_id] = {"id": customer_id}
    customer_for(workspace, customer_id)

    response = api.post(portal_url(workspace))

    assert response.status_code == 201
    assert response.json()["url"].startswith(f"{stripe_server.url}/portal/bps_test_")
    [call] = stripe_server.requests_to("POST", "/v1/billing_portal/sessions")
    assert call.form["customer"] == customer_id
    assert call.form["return_url"].endswith(f"/w/{workspace.slug}/billing/")
    assert call.idempotency_key.startswith(f"portal-session-{workspace.pk}-")


def test_portal_before_any_checkout_is_400(api, workspace, stripe_server):
    response = api.post(portal_url(workspace))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "no_billing_account"


def test_portal_buttons_redirect_to_stripe(client, user, workspace, stripe_server):
    client.force_login(user)
    response = client.post(f"/w/{workspace.slug}/billing/checkout/", {"plan": "premium"})
    assert response.status_code == 302
    assert response["Location"].startswith(f"{stripe_server.url}/checkout/")

    response = client.post(f"/w/{workspace.slug}/billing/portal/")
    assert response.status_code == 302
    assert response["Location"].startswith(f"{stripe_server.url}/portal/")


def test_portal_buttons_explain_problems_on_the_billing_page(client, user, workspace, settings):
    settings.STRIPE_SECRET_KEY = ""
    client.force_login(user)
    response = client.post(
        f"/w/{workspace.slug}/billing/checkout/", {"plan": "premium"}, follow=True
    )
    assert response.redirect_chain[-1][0] == f"/w/{workspace.slug}/billing/"
    page = response.content.decode()
    assert "Upgrades are not available yet." in page
    assert "STRIPE_SECRET_KEY" not in page


def test_a_member_cannot_press_the_buttons(client, workspace, stripe_server):
    member = MembershipFactory(workspace=workspace, role="member").user
    client.force_login(member)
    assert (
        client.post(f"/w/{workspace.slug}/billing/checkout/", {"plan": "premium"}).status_code
        == 403
    )
    assert stripe_server.requests == []
