"""Stripe delivers the same webhook three times at once, over real HTTP to the running
portal: each event applies once, the workspace is upgraded once, and nobody is charged
twice.

tests/billing/test_parallel_delivery.py lines three deliveries of one event up on the
database's unique index (through Django's test client, on PostgreSQL). This one goes
end to end: a real checkout on the Stripe-shaped test server, whose pay page produces
the events, then every one of them POSTed three times in parallel to
/billing/stripe/webhook/ on the live server, signed as Stripe signs them.
"""

from __future__ import annotations

import json
import threading
import urllib.request

import pytest
from django.core.cache import cache

from billing import services as billing_services
from billing.models import StripeEvent, Subscription
from billing.plans import entitlements
from tests.billing.stripe_server import FakeStripe, signature_header
from tests.factories import MembershipFactory

pytestmark = pytest.mark.slow

SECRET = "whsec_fault"
PRICE = "price_premium_fault"
COPIES = 3


@pytest.fixture
def stripe_server(settings, live_server):
    # No webhook URL: the test delivers the events itself, three times each.
    server = FakeStripe().start()
    server.known_prices = {PRICE}
    settings.STRIPE_SECRET_KEY = "sk_test_fault"
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    settings.STRIPE_PRICE_PREMIUM = PRICE
    settings.STRIPE_API_BASE = server.url
    cache.clear()
    yield server
    server.stop()


def post(url: str, event: dict) -> tuple[int, dict]:
    payload = json.dumps(event)
    request = urllib.request.Request(
        url,
        data=payload.encode(),
        headers={
            "Content-Type": "application/json",
            "Stripe-Signature": signature_header(payload, SECRET),
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


def test_each_event_delivered_three_times_in_parallel_applies_once(live_server, stripe_server):
    membership = MembershipFactory()
    workspace, owner = membership.workspace, membership.user
    checkout_url = billing_services.checkout_session_create(
        workspace=workspace,
        user=owner,
        plan="premium",
        success_url=f"{live_server.url}/done/",
        cancel_url=f"{live_server.url}/canceled/",
    )
    session_id = checkout_url.rsplit("/", 1)[-1]
    _, events = stripe_server.checkout_pay(session_id)
    assert [e["type"] for e in events] == [
        "customer.subscription.created",
        "invoice.paid",
        "checkout.session.completed",
    ]
    # Hold Stripe's API answers a moment so the parallel copies of the checkout event
    # are all in flight at once (each reads the subscription before its transaction).
    stripe_server.api_delay_s = 0.3

    webhook = f"{live_server.url}/billing/stripe/webhook/"
    answers: list[tuple[str, int, dict]] = []
    failures: list[BaseException] = []
    start = threading.Barrier(COPIES * len(events))

    def deliver(event: dict) -> None:
        try:
            start.wait(timeout=30)
            status, body = post(webhook, event)
            answers.append((event["id"], status, body))
        except BaseException as error:  # reported below, with the others
            failures.append(error)

    threads = [
        threading.Thread(target=deliver, args=(event,)) for event in events for _ in range(COPIES)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not failures, failures
    assert len(answers) == COPIES * len(events)
    assert all(status == 200 for _, status, _ in answers), answers
    for event in events:
        copies = [body for event_id, _, body in answers if event_id == event["id"]]
        # One copy applied it; the others were recognised as duplicates.
        assert sorted(body["duplicate"] for body in copies) == [False] + [True] * (COPIES - 1)
        assert StripeEvent.objects.filter(event_id=event["id"]).count() == 1

    assert Subscription.objects.for_workspace(workspace).count() == 1
    subscription = Subscription.objects.for_workspace(workspace).get()
    assert subscription.status == Subscription.Status.ACTIVE
    assert entitlements(workspace).plan == "premium"
    # Charged once: one customer, one checkout, one subscription on Stripe's side.
    assert len(stripe_server.customers) == 1
    assert len(stripe_server.checkout_sessions) == 1
    assert len(stripe_server.subscriptions) == 1
