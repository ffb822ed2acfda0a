"""Delete my account and download my data: the API, the portal page and the services."""

import io
import json
import zipfile
from datetime import UTC, datetime

import pytest
from django.core.files.storage import default_storage

from accounts.models import Membership, User, Workspace
from billing.models import StripeEvent, Subscription
from generation import services
from generation.models import Headshot, Order, SourcePhoto
from tests.billing.conftest import (  # noqa: F401 (fixtures)
    PREMIUM_PRICE,
    _stripe_server,
    customer_for,
    stripe_server,
    subscription_for,
)
from tests.conftest import api_client_for
from tests.factories import DEFAULT_PASSWORD, MembershipFactory, checked_photo

from . import imagefiles
from .worker import deliver

pytestmark = pytest.mark.django_db


def order_with_headshots(workspace, user, style) -> Order:
    photo = checked_photo(
        services.photo_upload(
            workspace=workspace, user=user, upload=imagefiles.upload(imagefiles.jpeg())
        )
    )
    order = services.order_create(
        workspace=workspace, user=user, photo=photo, style_slugs=[style.slug], per_style=2
    )
    return deliver(order)


def stored_names(workspace) -> list[str]:
    names = list(
        SourcePhoto.objects.for_workspace(workspace).values_list("storage_name", flat=True)
    )
    for headshot in Headshot.objects.for_workspace(workspace):
        names += [headshot.file.name, headshot.thumbnail.name]
    assert names and all(default_storage.exists(name) for name in names)
    return names


@pytest.fixture
def personal(user):
    return MembershipFactory(user=user, workspace__kind=Workspace.Kind.PERSONAL).workspace


def test_delete_me_removes_stored_objects_orders_memberships_and_kills_the_token(
    user, personal, workspace, free_style
):
    # `workspace` is a team the user owns with a colleague who stays.
    colleague = MembershipFactory(workspace=workspace, role="owner").user
    order_with_headshots(personal, user, free_style)
    order_with_headshots(workspace, user, free_style)
    kept = order_with_headshots(workspace, colleague, free_style)
    mine = stored_names(personal) + [
        name
        for name in stored_names(workspace)
        if name not in {h.file.name for h in kept.headshots.all()}
        and name not in {h.thumbnail.name for h in kept.headshots.all()}
        and name != kept.photo.storage_name
    ]
    api = api_client_for(user)

    response = api.delete("/api/v1/me/", {"password": DEFAULT_PASSWORD}, format="json")

    assert response.status_code == 204
    assert not User.objects.filter(pk=user.pk).exists()
    assert not any(default_storage.exists(name) for name in mine)
    assert not Workspace.objects.filter(pk=personal.pk).exists()
    assert not Order.all_workspaces_unscoped.filter(placed_by_id=user.pk).exists()
    assert not Membership.objects.filter(user_id=user.pk).exists()
    # The team and the colleague's own order stay whole.
    assert Workspace.objects.filter(pk=workspace.pk).exists()
    assert all(default_storage.exists(h.file.name) for h in kept.headshots.all())
    assert api.get("/api/v1/me/").status_code == 401


def test_a_wrong_or_missing_password_deletes_nothing(user, personal, free_style):
    order_with_headshots(personal, user, free_style)
    names = stored_names(personal)
    api = api_client_for(user)
    response = api.delete("/api/v1/me/", {"password": "not-it"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "wrong_password"
    response = api.delete("/api/v1/me/", {}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert User.objects.filter(pk=user.pk).exists()
    assert all(default_storage.exists(name) for name in names)
    assert api.get("/api/v1/me/").status_code == 200


def test_the_only_owner_of_a_team_with_members_is_told_what_to_do(user, workspace):
    MembershipFactory(workspace=workspace, role="member")
    response = api_client_for(user).delete(
        "/api/v1/me/", {"password": DEFAULT_PASSWORD}, format="json"
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "sole_owner"
    assert workspace.name in error["message"] and "Make another member an owner" in error["message"]
    assert User.objects.filter(pk=user.pk).exists()


def test_a_personal_subscription_is_canceled_at_stripe(user, personal, stripe_server):  # noqa: F811
    customer = customer_for(personal)
    stripe_server.add_subscription(id="sub_personal", customer=customer, price=PREMIUM_PRICE)
    subscription_for(personal, stripe_subscription_id="sub_personal", stripe_customer_id=customer)

    response = api_client_for(user).delete(
        "/api/v1/me/", {"password": DEFAULT_PASSWORD}, format="json"
    )

    assert response.status_code == 204
    assert stripe_server.requests_to("DELETE", "/v1/subscriptions/sub_personal")
    assert stripe_server.subscriptions["sub_personal"]["status"] == "canceled"
    assert not Subscription.all_workspaces_unscoped.filter(workspace_id=personal.pk).exists()


def test_stripe_unreachable_refuses_the_deletion_whole(user, personal, settings, free_style):
    subscription_for(personal, stripe_subscription_id="sub_unreachable")
    settings.STRIPE_SECRET_KEY = "sk_test_fake"
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens on discard
    order_with_headshots(personal, user, free_style)
    names = stored_names(personal)
    response = api_client_for(user).delete(
        "/api/v1/me/", {"password": DEFAULT_PASSWORD}, format="json"
    )
    assert response.status_code == 503
    assert User.objects.filter(pk=user.pk).exists()
    assert all(default_storage.exists(name) for name in names)


def test_export_is_a_zip_of_my_headshots_with_orders_and_invoices(
    user, personal, workspace, free_style
):
    order = order_with_headshots(personal, user, free_style)
    StripeEvent.objects.create(
        event_id="evt_invoice",
        type="invoice.paid",
        created=datetime(2026, 11, 1, tzinfo=UTC),
        outcome="applied",
        workspace=personal,
        stripe_object_id="in_123",
        payload={
            "data": {
                "object": {"id": "in_123", "amount_paid": 1900, "currency": "usd"},
            }
        },
    )
    response = api_client_for(user).get("/api/v1/me/export/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    data = json.loads(archive.read("data.json"))
    assert data["account"]["email"] == user.email
    [exported] = data["orders"]
    assert exported["id"] == order.pk and exported["headshots_delivered"] == 2
    assert data["invoices"] == [
        {
            "id": "in_123",
            "workspace": personal.name,
            "status": "paid",
            "amount_due": None,
            "amount_paid": 1900,
            "currency": "usd",
            "date": "2026-11-01T00:00:00Z",
            "invoice_url": None,
        }
    ]
    for name in exported["files"]:
        headshot_bytes = archive.read(name)
        assert headshot_bytes[:3] == b"\xff\xd8\xff" or headshot_bytes[:4] == b"\x89PNG"
    assert len(exported["files"]) == 2


def test_export_needs_login():
    from rest_framework.test import APIClient

    assert APIClient().get("/api/v1/me/export/").status_code == 401


def test_the_portal_page_deletes_with_the_password_and_says_why_not(client, user, personal):
    client.force_login(user)
    page = client.get("/account/").content.decode()
    assert "Download my data" in page and "Delete my account" in page
    wrong = client.post("/account/", {"password": "nope"})
    assert wrong.status_code == 400
    assert "That password is not right." in wrong.content.decode()
    response = client.post("/account/", {"password": DEFAULT_PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == "/"
    assert "Your account and everything in it are deleted" in response.content.decode()
    assert not User.objects.filter(pk=user.pk).exists()


def test_the_portal_page_names_the_team_to_hand_over(client, user, workspace):
    MembershipFactory(workspace=workspace, role="member")
    client.force_login(user)
    page = client.get("/account/").content.decode()
    assert "First hand over your team" in page and workspace.name in page
    assert "Delete my account and data</button>" not in page


def test_privacy_and_terms_are_linked_from_every_page(client):
    landing = client.get("/").content.decode()
    assert 'href="/privacy/"' in landing and 'href="/terms/"' in landing
    privacy = client.get("/privacy/").content.decode()
    for promise in ("Encrypted at rest", "Deleted within 24 hours", "Never used for training"):
        assert promise in privacy
    assert "Who can see what" in privacy
    assert client.get("/terms/").status_code == 200
