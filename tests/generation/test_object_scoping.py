"""Objects are scoped as well as workspaces.

The tenant isolation suite asks for another tenant's objects through the victim's
workspace id, so the membership check answers first. These ask through the caller's
OWN workspace, where only the object lookups (selectors.headshot_get, order_get, the
role check, the selfie's purge time) stand between the caller and the object.
"""

from datetime import timedelta

import pytest
from django.core.files.storage import FileSystemStorage
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ

from generation import services
from generation.models import Headshot, Order, SourcePhoto
from tests.billing.conftest import subscription_for
from tests.conftest import api_client_for
from tests.factories import MembershipFactory, checked_photo

from . import imagefiles
from .worker import deliver


def _delivered_order(workspace, user, style) -> Order:
    photo = checked_photo(
        services.photo_upload(
            workspace=workspace, user=user, upload=imagefiles.upload(imagefiles.jpeg())
        )
    )
    order = services.order_create(
        workspace=workspace, user=user, photo=photo, style_slugs=[style.slug], per_style=1
    )
    return deliver(order)


def _queued_order(workspace, user, style) -> Order:
    photo = checked_photo(
        services.photo_upload(
            workspace=workspace, user=user, upload=imagefiles.upload(imagefiles.jpeg())
        )
    )
    return services.order_create(
        workspace=workspace, user=user, photo=photo, style_slugs=[style.slug], per_style=1
    )


@pytest.fixture
def victim(db):
    return MembershipFactory()


def test_another_workspaces_headshot_through_my_own_workspace_is_404(
    client, api, user, workspace, victim, free_style
):
    order = _delivered_order(victim.workspace, victim.user, free_style)
    headshot = Headshot.objects.for_workspace(victim.workspace).get(order=order)
    client.force_login(user)

    url = reverse("api_headshot_image", kwargs={"wid": workspace.pk, "headshot_id": headshot.pk})
    assert api.get(url).status_code == 404
    for name in ("headshot_image", "headshot_thumbnail"):
        assert client.get(reverse(name, args=[workspace.slug, headshot.pk])).status_code == 404
    # The victim still gets it: the 404 is scoping, not a broken view.
    owner = api_client_for(victim.user)
    url = reverse(
        "api_headshot_image", kwargs={"wid": victim.workspace.pk, "headshot_id": headshot.pk}
    )
    assert owner.get(url).status_code == 200


def test_another_workspaces_order_through_my_own_workspace_is_404(
    client, api, user, workspace, victim, free_style
):
    delivered = _delivered_order(victim.workspace, victim.user, free_style)
    queued = _queued_order(victim.workspace, victim.user, free_style)
    client.force_login(user)
    own = {"wid": workspace.pk}

    assert (
        api.post(reverse("api_order_cancel", kwargs={**own, "order_id": queued.pk})).status_code
        == 404
    )
    assert (
        api.get(reverse("api_order_download", kwargs={**own, "order_id": delivered.pk})).status_code
        == 404
    )
    assert (
        api.get(reverse("api_order", kwargs={**own, "order_id": delivered.pk})).status_code == 404
    )
    for name, order in (("order_detail", delivered), ("order_download", delivered)):
        assert client.get(reverse(name, args=[workspace.slug, order.pk])).status_code == 404
    assert client.post(reverse("order_cancel", args=[workspace.slug, queued.pk])).status_code == 404
    assert Order.objects.for_workspace(victim.workspace).get(pk=queued.pk).status == "queued"


def test_a_plain_member_cannot_cancel_or_download_a_colleagues_order(
    client, user, workspace, colleague, free_style
):
    delivered = _delivered_order(workspace, user, free_style)
    queued = _queued_order(workspace, user, free_style)
    api = api_client_for(colleague)
    client.force_login(colleague)
    wid = {"wid": workspace.pk}

    assert (
        api.post(reverse("api_order_cancel", kwargs={**wid, "order_id": queued.pk})).status_code
        == 404
    )
    assert (
        api.get(reverse("api_order_download", kwargs={**wid, "order_id": delivered.pk})).status_code
        == 404
    )
    assert client.post(reverse("order_cancel", args=[workspace.slug, queued.pk])).status_code == 404
    assert (
        client.get(reverse("order_download", args=[workspace.slug, delivered.pk])).status_code
        == 404
    )
    assert Order.objects.for_workspace(workspace).get(pk=queued.pk).status == "queued"


def test_a_plain_member_cannot_list_invitations(workspace, colleague):
    response = api_client_for(colleague).get(
        reverse("api_workspace_invitations", kwargs={"wid": workspace.pk})
    )
    assert response.status_code == 403
    assert "admin role" in response.json()["error"]["message"]


def _order_with(api, workspace, photo, style):
    return api.post(
        reverse("api_orders", kwargs={"wid": workspace.pk}),
        {"photo": photo.pk, "styles": [style.slug], "per_style": 1},
        format="json",
    )


def test_ordering_with_an_expired_selfie_is_refused(api, workspace, photo, free_style):
    SourcePhoto.objects.for_workspace(workspace).filter(pk=photo.pk).update(
        purge_at=timezone.now() - timedelta(minutes=1)
    )
    response = _order_with(api, workspace, photo, free_style)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "photo_expired"
    assert not Order.objects.for_workspace(workspace).exists()
    photo.refresh_from_db()
    with pytest.raises(Exception, match="deleted after 24 hours"):
        services.order_create(
            workspace=workspace,
            user=photo.uploaded_by,
            photo=photo,
            style_slugs=[free_style.slug],
            per_style=1,
        )


def test_ordering_with_a_selfie_kept_after_a_failed_storage_delete_is_refused(
    api, workspace, user, photo, free_style, monkeypatch
):
    def refuse(self, name):
        raise OSError("bucket unreachable")

    monkeypatch.setattr(FileSystemStorage, "delete", refuse)
    assert services.photo_delete(photo=photo) is False
    kept = SourcePhoto.objects.for_workspace(workspace).get(pk=photo.pk)
    assert kept.purge_attempts == 1

    response = _order_with(api, workspace, kept, free_style)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "photo_expired"
    with pytest.raises(Exception, match="deleted after 24 hours"):
        services.order_create(
            workspace=workspace, user=user, photo=kept, style_slugs=[free_style.slug], per_style=1
        )
    assert not Order.objects.for_workspace(workspace).exists()


# Premium behaviours through a real Subscription row (no monkeypatched entitlements).


def test_a_subscribed_workspace_orders_on_the_priority_queue(
    user, workspace, photo, premium_style, django_capture_on_commit_callbacks
):
    subscription_for(workspace, plan="premium")
    with django_capture_on_commit_callbacks(execute=True):
        order = services.order_create(
            workspace=workspace,
            user=user,
            photo=photo,
            style_slugs=[premium_style.slug],
            per_style=1,
        )
    assert (order.queue_name, order.resolution) == ("gpu-priority", 4096)
    assert list(OrmQ.objects.values_list("key", flat=True)) == ["gpu-priority"]


def test_a_subscribed_workspace_keeps_headshots_for_its_plans_retention(
    user, workspace, free_style
):
    subscription_for(workspace, plan="premium")
    order = _delivered_order(workspace, user, free_style)

    def finished_days_ago(days):
        Order.objects.for_workspace(workspace).filter(pk=order.pk).update(
            finished_at=timezone.now() - timedelta(days=days)
        )

    finished_days_ago(30)
    assert services.headshots_purge_expired().deleted == 0
    finished_days_ago(91)
    assert services.headshots_purge_expired().deleted == 1
    assert not Headshot.objects.for_workspace(workspace).exists()


def test_a_canceled_subscription_falls_back_to_the_free_queue(
    user, workspace, photo, free_style, django_capture_on_commit_callbacks
):
    subscription = subscription_for(workspace, plan="premium")
    subscription.status = subscription.Status.CANCELED
    subscription.current_period_end = timezone.now() - timedelta(days=1)
    subscription.save()
    with django_capture_on_commit_callbacks(execute=True):
        order = services.order_create(
            workspace=workspace, user=user, photo=photo, style_slugs=[free_style.slug], per_style=1
        )
    assert order.queue_name == "gpu"
