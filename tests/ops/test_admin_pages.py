"""Every generation/ops admin page opens for two-factor staff on real data, selfies stay
invisible, headshot thumbnails show, and list pages cost the same queries for 2 rows
as for 20."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from generation import services
from generation.models import Headshot, Order, WorkerStatus
from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory

from .conftest import place_order

pytestmark = pytest.mark.django_db

CHANGELISTS = [
    "/admin/generation/style/",
    "/admin/generation/style/?q=corporate",
    "/admin/generation/sourcephoto/",
    "/admin/generation/sourcephoto/?purge=overdue",
    "/admin/generation/sourcephoto/?purge=failing&q=team",
    "/admin/generation/order/",
    "/admin/generation/order/?status__exact=failed",
    "/admin/generation/order/?tier=1024",
    "/admin/generation/order/?tier=not-a-number",
    "/admin/generation/order/?q=not-a-number",
    "/admin/generation/order/?q=person",
    "/admin/generation/order/?created_at__year=2026",
    "/admin/generation/quotausage/",
    "/admin/generation/workerstatus/",
    "/admin/generation/purgerun/",
    "/admin/generation/purgerun/?outcome=failures",
    "/admin/accounts/workspace/",
    "/admin/accounts/workspace/?q=team",
    "/admin/billing/billingaccount/",
    "/admin/admin/logentry/",
]


@pytest.mark.parametrize("url", CHANGELISTS)
def test_changelists_open(staff_client, seeded, url):
    assert staff_client.get(url).status_code == 200


def test_bad_filter_values_are_not_errors(staff_client, seeded):
    # Django answers a lookup it cannot apply with the unfiltered list and ?e=1.
    response = staff_client.get("/admin/generation/order/?created_at__gte=yesterday")
    assert response.status_code in (200, 302)


def _change_pages(seeded) -> list[str]:
    return [
        reverse("admin:generation_style_change", args=[seeded["style"].pk]),
        reverse("admin:generation_sourcephoto_change", args=[seeded["photo"].pk]),
        reverse("admin:generation_order_change", args=[seeded["succeeded"].pk]),
        reverse("admin:generation_order_change", args=[seeded["failed"].pk]),
        reverse("admin:generation_workerstatus_change", args=[seeded["worker"].pk]),
        reverse("admin:generation_purgerun_change", args=[seeded["purge_run"].pk]),
        reverse("admin:accounts_workspace_change", args=[seeded["workspace"].pk]),
        reverse("admin:accounts_workspace_change", args=[seeded["paying"].pk]),
        reverse("admin:generation_style_add"),
        reverse("admin:accounts_workspace_add"),
    ]


def test_change_pages_open(staff_client, seeded):
    for url in _change_pages(seeded):
        assert staff_client.get(url).status_code == 200, url


def test_a_selfie_page_shows_metadata_and_purge_state_only(staff_client, seeded):
    photo = seeded["photo"]
    services.photo_store_face_data(photo=photo, face_data=b"landmarks")
    for url in (
        reverse("admin:generation_sourcephoto_changelist"),
        reverse("admin:generation_sourcephoto_change", args=[photo.pk]),
    ):
        page = staff_client.get(url).content.decode()
        assert f"{photo.width}×{photo.height}" in page
        assert "purged in" in page
        # The admin's own icons (search, calendar) are the only images.
        assert all(
            src.startswith("/static/admin/") for src in re.findall(r'<img[^>]* src="([^"]*)"', page)
        )
        assert "download" not in page.lower()
        assert "/preview/" not in page and "/photos/" not in page
        assert photo.storage_name not in page
        assert "face data" not in page.lower() and "face_data" not in page


def test_the_order_page_shows_headshot_thumbnails_staff_can_open(staff_client, seeded):
    order, headshot = seeded["succeeded"], seeded["headshot"]
    page = staff_client.get(reverse("admin:generation_order_change", args=[order.pk]))
    thumbnail = reverse("admin:generation_order_thumbnail", args=[order.pk, headshot.pk])

    assert page.content.decode().count('<img src="/admin/generation/order/') == order.total
    assert thumbnail in page.content.decode()
    response = staff_client.get(thumbnail)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"
    # A headshot of another order, or none at all, is not found.
    other = seeded["failed"]
    assert (
        staff_client.get(
            reverse("admin:generation_order_thumbnail", args=[other.pk, headshot.pk])
        ).status_code
        == 404
    )


def test_thumbnails_are_refused_to_non_staff(client, seeded):
    order, headshot = seeded["succeeded"], seeded["headshot"]
    client.force_login(UserFactory())

    response = client.get(reverse("admin:generation_order_thumbnail", args=[order.pk, headshot.pk]))

    assert response.status_code == 302
    assert not response["Location"].startswith("/admin/")


def test_the_workspace_page_shows_plan_usage_and_stripe_customer(staff_client, seeded):
    paying = staff_client.get(
        reverse("admin:accounts_workspace_change", args=[seeded["paying"].pk])
    ).content.decode()
    assert "Premium (Active, 1 seat)" in paying
    assert "0 of 200 used, 200 left" in paying
    assert "cus_TEST123" in paying

    free = staff_client.get(
        reverse("admin:accounts_workspace_change", args=[seeded["workspace"].pk])
    ).content.decode()
    assert "Free (no paid subscription)" in free
    # Two orders of 2 keep their reservation; the failed one kept only the 1 it made.
    # The free allowance is each person's; the workspace page shows what was ordered here.
    assert "5 ordered here; on the free plan each person has 8 a month" in free
    listing = staff_client.get("/admin/accounts/workspace/").content.decode()
    assert "cus_TEST123" in listing


def test_the_worker_health_page_sums_up_queues_and_time_per_image(staff_client, seeded):
    Headshot.all_workspaces_unscoped.filter(order=seeded["succeeded"]).update(
        generation_seconds=2.5
    )

    page = staff_client.get("/admin/generation/workerstatus/").content.decode()

    assert 'id="worker-health"' in page
    for queue in ("gpu-priority", "gpu", "default"):
        assert f"<code>{queue}</code>" in page
    assert "2.50 s" in page
    assert "gpu-host-1-0" in page and "cuda:0" in page
    assert "busy" in page


@pytest.mark.parametrize(
    "url",
    [
        "/admin/generation/order/",
        "/admin/generation/sourcephoto/",
        "/admin/generation/workerstatus/",
        "/admin/generation/purgerun/",
        "/admin/generation/quotausage/",
        "/admin/accounts/workspace/",
    ],
)
def test_list_pages_make_no_query_per_row(staff_client, workspace, user, url):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert staff_client.get(url).status_code == 200
        return len(captured)

    _grow(workspace, user, 2)
    few = queries()
    _grow(workspace, user, 6)
    assert queries() == few


def _grow(workspace, user, orders: int) -> None:
    """More of each row kind the list pages show."""
    for number in range(orders):
        order = place_order(workspace, user, per_style=1)
        WorkerStatus.objects.create(
            worker_id=f"gpu-{order.pk}",
            hostname="h",
            pid=number + 1,
            device="cuda:0",
            model_set="tiny",
            started_at=timezone.now(),
            heartbeat_at=timezone.now(),
            current_order=order,
        )
        services.purge_run()
        MembershipFactory(workspace=WorkspaceFactory(), user=user)
    assert Order.objects.for_workspace(workspace).count() >= orders
