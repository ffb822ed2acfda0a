"""The Stripe webhook: signed, recorded once, applied in event order whatever the
delivery order."""

import io
import json
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from billing.models import StripeEvent, Subscription
from billing.plans import FREE, entitlements
from tests.billing.conftest import (
    PREMIUM_PRICE,
    TEAM_PRICE,
    WEBHOOK_URL,
    customer_for,
    deliver,
)
from tests.billing.stripe_server import (
    event,
    invoice_object,
    signature_header,
    subscription_object,
)
from tests.factories import checked_photo

pytestmark = pytest.mark.django_db

T0 = int(time.time()) - 3600


def sub(workspace, **fields) -> dict:
    values = {
        "id": "sub_1",
        "customer": "cus_existing",
        "price": PREMIUM_PRICE,
        "metadata": {"workspace_id": str(workspace.pk), "plan": "premium"},
        **fields,
    }
    return subscription_object(**values)


def state(workspace) -> Subscription:
    return Subscription.objects.for_workspace(workspace).get()


def _place_order(workspace, user):
    """An order through generation's own service, when that app provides one."""
    services = pytest.importorskip("generation.services")
    from PIL import Image

    from generation.models import Style

    style = Style.objects.create(
        slug="studio-4k", name="Studio", description="", prompt="a headshot", tier="premium"
    )
    buffer = io.BytesIO()
    Image.new("RGB", (600, 600), (180, 150, 130)).save(buffer, "JPEG")
    upload = SimpleUploadedFile("selfie.jpg", buffer.getvalue(), content_type="image/jpeg")
    photo = checked_photo(services.photo_upload(workspace=workspace, user=user, upload=upload))
    return services.order_create(
        workspace=workspace, user=user, photo=photo, style_slugs=[style.slug], per_style=1
    )


def test_checkout_completed_makes_the_workspace_premium_and_its_next_order_4k(
    api, client, user, workspace, stripe_server
):
    assert entitlements(workspace).resolution == 1024
    url = api.post(
        f"/api/v1/workspaces/{workspace.pk}/billing/checkout/", {"plan": "premium"}
    ).json()["url"]
    session_id = url.rsplit("/", 1)[-1]
    # The customer pays on Stripe's page; Stripe then sends the event.
    _, events = stripe_server.checkout_pay(session_id)
    completed = next(e for e in events if e["type"] == "checkout.session.completed")

    response = deliver(client, completed)

    assert response.status_code == 200, response.content
    assert response.json() == {"received": True, "duplicate": False, "outcome": "applied"}
    subscription_id = completed["data"]["object"]["subscription"]
    assert stripe_server.requests_to("GET", f"/v1/subscriptions/{subscription_id}")
    rights = entitlements(workspace)
    assert (rights.plan, rights.resolution, rights.monthly_quota) == ("premium", 4096, 200)
    subscription = state(workspace)
    assert (subscription.stripe_subscription_id, subscription.status) == (subscription_id, "active")
    assert subscription.current_period_end > timezone.now()
    record = StripeEvent.objects.get(event_id=completed["id"])
    assert (record.workspace, record.outcome) == (workspace, "applied")

    order = _place_order(workspace, user)
    assert order.resolution == 4096


def test_team_subscription_events_set_the_seats(client, workspace, stripe_server):
    customer_for(workspace)
    deliver(
        client, event("customer.subscription.created", sub(workspace, price=TEAM_PRICE, quantity=4))
    )
    rights = entitlements(workspace)
    assert (rights.plan, rights.seats, rights.monthly_quota) == ("team", 4, 800)


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "garbage",
        "t=123,v1=deadbeef",
        lambda payload: signature_header(payload, "whsec_someone_else"),
        # Genuine, but replayed long after Stripe's five-minute tolerance.
        lambda payload: signature_header(payload, "whsec_test_secret", timestamp=T0 - 600),
    ],
    ids=["missing", "empty", "garbage", "wrong-mac", "wrong-secret", "stale"],
)
def test_bad_signatures_get_400_and_change_nothing(client, workspace, stripe_server, signature):
    customer_for(workspace)
    payload = json.dumps(event("customer.subscription.created", sub(workspace)))
    headers = {}
    if signature is not None:
        value = signature(payload) if callable(signature) else signature
        headers["HTTP_STRIPE_SIGNATURE"] = value
    response = client.post(WEBHOOK_URL, data=payload, content_type="application/json", **headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    assert not StripeEvent.objects.exists()
    assert not Subscription.all_workspaces_unscoped.exists()
    assert entitlements(workspace) == FREE


def test_a_tampered_body_fails_the_signature(client, workspace, stripe_server):
    customer_for(workspace)
    payload = json.dumps(event("customer.subscription.created", sub(workspace)))
    header = signature_header(payload, "whsec_test_secret")
    forged = payload.replace(PREMIUM_PRICE, TEAM_PRICE)
    response = client.post(
        WEBHOOK_URL, data=forged, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
    assert response.status_code == 400
    assert not StripeEvent.objects.exists()


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '{"id": "evt_1"}', "\udcff"])
def test_signed_bodies_that_are_not_events_get_400(client, stripe_server, body):
    raw = body.encode("utf-8", "surrogateescape")
    header = signature_header(raw.decode("latin-1"), "whsec_test_secret")
    response = client.post(
        WEBHOOK_URL, data=raw, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
    assert response.status_code == 400
    assert not StripeEvent.objects.exists()


def test_no_webhook_secret_configured_is_503_so_stripe_retries(client, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    response = deliver(client, event("invoice.paid", {"id": "in_1"}), secret="whsec_x")
    assert response.status_code == 503
    assert "STRIPE_WEBHOOK_SECRET" in response.json()["error"]["message"]


def test_a_replayed_event_changes_nothing(client, workspace, stripe_server):
    customer_for(workspace)
    updated = event("customer.subscription.updated", sub(workspace), created=T0)
    deleted = event(
        "customer.subscription.deleted",
        sub(workspace, status="canceled", ended_at=T0 + 10, period_end=T0 + 20),
        created=T0 + 10,
    )
    assert deliver(client, updated).json()["outcome"] == "applied"
    assert deliver(client, deleted).json()["outcome"] == "applied"
    before = Subscription.objects.for_workspace(workspace).values().get()

    replay = deliver(client, updated)

    assert replay.status_code == 200
    assert replay.json()["duplicate"] is True
    assert Subscription.objects.for_workspace(workspace).values().get() == before
    assert StripeEvent.objects.filter(event_id=updated["id"]).count() == 1
    assert entitlements(workspace) == FREE


def test_deleted_before_updated_ends_canceled(client, workspace, stripe_server):
    customer_for(workspace)
    updated = event("customer.subscription.updated", sub(workspace, quantity=1), created=T0)
    deleted = event(
        "customer.subscription.deleted",
        sub(workspace, status="canceled", ended_at=T0 + 5, period_end=T0 + 5),
        created=T0 + 5,
    )
    assert deliver(client, deleted).json()["outcome"] == "applied"
    assert deliver(client, updated).json()["outcome"] == "stale"

    subscription = state(workspace)
    assert subscription.status == "canceled"
    assert entitlements(workspace) == FREE


def test_a_deleted_subscription_stays_deleted_even_against_a_same_second_update(
    client, workspace, stripe_server
):
    customer_for(workspace)
    deleted = event("customer.subscription.deleted", sub(workspace, status="canceled"), created=T0)
    deliver(client, deleted)
    deliver(client, event("customer.subscription.updated", sub(workspace), created=T0 + 60))
    assert state(workspace).status == "canceled"


def test_an_older_update_never_overwrites_a_newer_one(client, workspace, stripe_server):
    customer_for(workspace)
    newer = event(
        "customer.subscription.updated",
        sub(workspace, quantity=7, price=TEAM_PRICE),
        created=T0 + 60,
    )
    older = event(
        "customer.subscription.updated", sub(workspace, quantity=2, price=TEAM_PRICE), created=T0
    )
    deliver(client, newer)
    deliver(client, older)
    assert state(workspace).quantity == 7
    assert entitlements(workspace).seats == 7


def test_payment_failed_starts_the_grace_period_and_payment_ends_it(
    client, user, workspace, stripe_server, settings
):
    settings.BILLING_GRACE_DAYS = 7
    customer_for(workspace)
    deliver(client, event("customer.subscription.created", sub(workspace), created=T0))
    metadata = {"workspace_id": str(workspace.pk)}
    failed = event(
        "invoice.payment_failed",
        invoice_object(
            id="in_1", customer="cus_existing", subscription="sub_1", paid=False, metadata=metadata
        ),
        created=T0 + 10,
    )

    assert deliver(client, failed).json()["outcome"] == "applied"

    subscription = state(workspace)
    assert subscription.past_due_since is not None
    assert subscription.in_grace(timezone.now())
    assert entitlements(workspace).plan == "premium"
    client.force_login(user)
    page = client.get(f"/w/{workspace.slug}/members/").content.decode()
    assert "Payment for" in page and "Update payment details" in page

    paid = event(
        "invoice.paid",
        invoice_object(id="in_1", customer="cus_existing", subscription="sub_1", paid=True),
        created=T0 + 20,
    )
    deliver(client, paid)
    assert state(workspace).past_due_since is None
    assert "Payment for" not in client.get(f"/w/{workspace.slug}/members/").content.decode()

    # The failure, redelivered late under a new id, is older than the payment.
    late = event("invoice.payment_failed", failed["data"]["object"], created=T0 + 10)
    assert deliver(client, late).json()["outcome"] == "stale"
    assert state(workspace).past_due_since is None


def test_grace_ends_in_free(client, workspace, stripe_server, settings):
    settings.BILLING_GRACE_DAYS = 7
    customer_for(workspace)
    long_ago = int(time.time()) - 8 * 24 * 3600
    deliver(client, event("customer.subscription.created", sub(workspace), created=long_ago - 60))
    deliver(
        client,
        event(
            "invoice.payment_failed",
            invoice_object(id="in_1", customer="cus_existing", subscription="sub_1", paid=False),
            created=long_ago,
        ),
    )
    assert entitlements(workspace) == FREE


def test_a_past_due_status_older_than_the_last_payment_does_not_start_grace(
    client, workspace, stripe_server
):
    customer_for(workspace)
    deliver(
        client,
        event(
            "invoice.paid",
            invoice_object(id="in_2", customer="cus_existing", subscription="sub_1", paid=True),
            created=T0 + 20,
        ),
    )
    deliver(
        client,
        event("customer.subscription.updated", sub(workspace, status="past_due"), created=T0),
    )
    assert state(workspace).past_due_since is None
    assert entitlements(workspace).plan == "premium"


def test_an_invoice_before_its_subscription_is_kept_and_completed_later(
    client, workspace, stripe_server
):
    customer_for(workspace)
    deliver(
        client,
        event(
            "invoice.payment_failed",
            invoice_object(id="in_1", customer="cus_existing", subscription="sub_1", paid=False),
            created=T0 + 10,
        ),
    )
    assert entitlements(workspace) == FREE
    deliver(client, event("customer.subscription.created", sub(workspace), created=T0))
    subscription = state(workspace)
    assert (subscription.status, subscription.plan) == ("active", "premium")
    assert subscription.past_due_since is not None


def test_unknown_types_and_strangers_get_200_and_are_logged(client, stripe_server):
    response = deliver(client, event("customer.created", {"id": "cus_x", "object": "customer"}))
    assert response.status_code == 200
    assert response.json()["outcome"] == "unhandled"

    stranger = subscription_object(id="sub_x", customer="cus_nobody", price=PREMIUM_PRICE)
    response = deliver(client, event("customer.subscription.created", stranger))
    assert response.json()["outcome"] == "no_workspace"
    assert StripeEvent.objects.count() == 2
    assert not Subscription.all_workspaces_unscoped.exists()


def test_checkout_completed_whose_subscription_cannot_be_read_is_503_and_not_recorded(
    client, workspace, stripe_server
):
    session = {
        "id": "cs_1",
        "object": "checkout.session",
        "mode": "subscription",
        "client_reference_id": str(workspace.pk),
        "customer": "cus_existing",
        "subscription": "sub_missing",
    }
    response = deliver(client, event("checkout.session.completed", session))
    assert response.status_code == 503
    assert not StripeEvent.objects.exists()
