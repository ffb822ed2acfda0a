"""Stripe may deliver the same event several times at once: it must apply once.

Needs real concurrent transactions, so PostgreSQL:
DATABASE_URL=postgres://postgres@127.0.0.1:5432/headshots pytest tests/billing
"""

import threading

import pytest
from django.db import connection, connections
from django.test import Client

from billing.models import StripeEvent, Subscription
from billing.plans import entitlements
from tests.billing.conftest import PREMIUM_PRICE, customer_for, deliver
from tests.billing.stripe_server import event
from tests.factories import MembershipFactory

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="parallel delivery needs PostgreSQL"
)


@pytest.mark.django_db(transaction=True)
def test_the_same_event_delivered_three_times_in_parallel_applies_once(stripe_server):
    workspace = MembershipFactory().workspace
    customer = customer_for(workspace, "cus_parallel")
    stripe_server.add_subscription(id="sub_parallel", customer=customer, price=PREMIUM_PRICE)
    completed = event(
        "checkout.session.completed",
        {
            "id": "cs_parallel",
            "object": "checkout.session",
            "mode": "subscription",
            "client_reference_id": str(workspace.pk),
            "customer": customer,
            "subscription": "sub_parallel",
        },
    )
    # Every delivery passes the "seen it already?" check and reads the subscription
    # before any commits, so the three meet at the insert of the event id.
    stripe_server.api_delay_s = 0.3
    start = threading.Barrier(3)
    answers = []

    def post():
        try:
            start.wait()
            answers.append(deliver(Client(), completed))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert sorted(answer.json()["duplicate"] for answer in answers) == [False, True, True]
    assert len(stripe_server.requests_to("GET", "/v1/subscriptions/sub_parallel")) == 3
    assert StripeEvent.objects.filter(event_id=completed["id"]).count() == 1
    assert Subscription.objects.for_workspace(workspace).count() == 1
    assert entitlements(workspace).plan == "premium"
