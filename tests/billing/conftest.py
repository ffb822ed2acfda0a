import json
from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import BillingAccount, Subscription
from tests.billing.stripe_server import FakeStripe, signature_header

WEBHOOK_SECRET = "whsec_test_secret"
PREMIUM_PRICE = "price_premium_test"
TEAM_PRICE = "price_team_test"
WEBHOOK_URL = "/billing/stripe/webhook/"


@pytest.fixture(scope="session")
def _stripe_server():
    server = FakeStripe().start()
    yield server
    server.stop()


@pytest.fixture
def stripe_server(_stripe_server, settings):
    """The loopback Stripe, empty, with the app's Stripe settings pointing at it."""
    _stripe_server.reset()
    _stripe_server.known_prices = {PREMIUM_PRICE, TEAM_PRICE}
    settings.STRIPE_SECRET_KEY = "sk_test_fake"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_PRICE_PREMIUM = PREMIUM_PRICE
    settings.STRIPE_PRICE_TEAM = TEAM_PRICE
    settings.STRIPE_API_BASE = _stripe_server.url
    return _stripe_server


def deliver(client, event: dict, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None):
    """POST an event to the webhook the way Stripe does: raw JSON, signed."""
    payload = json.dumps(event)
    return client.post(
        WEBHOOK_URL,
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature_header(payload, secret, timestamp=timestamp),
    )


def customer_for(workspace, customer_id: str = "cus_existing") -> str:
    BillingAccount.objects.for_workspace(workspace).update_or_create(
        workspace=workspace, defaults={"stripe_customer_id": customer_id}
    )
    return customer_id


def subscription_for(workspace, **fields) -> Subscription:
    """A subscription row as webhooks would leave it, for tests about reading it."""
    now = timezone.now()
    values = {
        "stripe_subscription_id": f"sub_{workspace.pk}_{Subscription.all_workspaces_unscoped.count()}",
        "plan": "premium",
        "status": Subscription.Status.ACTIVE,
        "current_period_end": now + timedelta(days=20),
        "state_event_at": now,
        **fields,
    }
    return Subscription.objects.for_workspace(workspace).create(workspace=workspace, **values)
