"""Per-request database queries stay the same as a workspace's orders grow from 10 to
10,000: the status poll and the order lists never query per order or per headshot.

(The status poll is what every open order page and API client hits every couple of
seconds, so a query per order or per headshot there would be what falls over first.)
"""

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from generation.models import Headshot, Order, Style
from generation.selectors import quota_period
from tests.conftest import api_client_for
from tests.e2e.support import seed_styles

pytestmark = pytest.mark.django_db

SIZES = (10, 10_000)
HEADSHOTS_PER_ORDER = 2


def add_orders(workspace, user, count: int) -> None:
    """`count` finished orders, each with two styles and two headshots, in bulk."""
    styles = list(Style.objects.order_by("position")[:2])
    now = timezone.now()
    orders = Order.objects.for_workspace(workspace).bulk_create(
        [
            Order(
                workspace=workspace,
                placed_by=user,
                per_style=1,
                total=HEADSHOTS_PER_ORDER,
                done=HEADSHOTS_PER_ORDER,
                status=Order.Status.SUCCEEDED,
                resolution=1024,
                queue_name="gpu",
                quota_period=quota_period(),
                created_at=now,
                finished_at=now,
            )
            for _ in range(count)
        ],
        batch_size=2000,
    )
    through = Order.styles.through
    through.objects.bulk_create(
        [through(order_id=order.pk, style_id=style.pk) for order in orders for style in styles],
        batch_size=5000,
    )
    Headshot.objects.for_workspace(workspace).bulk_create(
        [
            Headshot(
                workspace=workspace,
                order=order,
                style=style,
                index=0,
                seed=1,
                width=1024,
                height=1024,
                file=f"headshots/{workspace.pk}/{order.pk}/{style.slug}.jpg",
                thumbnail=f"headshots/{workspace.pk}/{order.pk}/{style.slug}-thumb.jpg",
                content_type="image/jpeg",
            )
            for order in orders
            for style in styles
        ],
        batch_size=5000,
    )


def queries_for(client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content[:500]
    return [query["sql"] for query in captured.captured_queries]


@pytest.fixture
def session_client(client, user):
    client.force_login(user)
    return client


def test_status_poll_and_order_lists_query_the_same_at_10_and_10000_orders(
    user, workspace, session_client
):
    seed_styles()
    api = api_client_for(user)
    counts = {}
    added = 0
    for size in SIZES:
        add_orders(workspace, user, size - added)
        added = size
        assert Order.objects.for_workspace(workspace).count() == size
        newest = Order.objects.for_workspace(workspace).first()
        urls = {
            "api order status": f"/api/v1/workspaces/{workspace.pk}/orders/{newest.pk}/",
            "api order list": f"/api/v1/workspaces/{workspace.pk}/orders/",
            "portal order status": f"/w/{workspace.slug}/orders/{newest.pk}/status/",
            "portal order history": f"/w/{workspace.slug}/orders/",
        }
        # Warm per-process caches (content types, ...) so both sizes are measured alike.
        cache.clear()
        for url in urls.values():
            session_client.get(url) if url.startswith("/w/") else api.get(url)
        counts[size] = {
            name: len(queries_for(session_client if url.startswith("/w/") else api, url))
            for name, url in urls.items()
        }
        # Each order shows its headshots: the list really did carry the page's orders.
        listed = api.get(urls["api order list"]).json()
        assert listed["count"] == size
        assert len(listed["results"]) == min(size, 50)
        assert all(len(item["headshots"]) == HEADSHOTS_PER_ORDER for item in listed["results"])

    small, large = counts[SIZES[0]], counts[SIZES[-1]]
    assert small == large, counts
    # And few in absolute terms: auth, membership, the order(s), their styles and
    # headshots (one query each), the page count.
    assert all(count <= 8 for count in small.values()), small


def test_a_queued_orders_poll_queries_the_same_behind_10_and_10000_queued_orders(
    user, workspace, session_client
):
    """The poll of a queued order also says where it stands in the queue shared by every
    workspace: a fixed number of queries, however long that queue is."""
    seed_styles()
    api = api_client_for(user)
    mine = Order.objects.for_workspace(workspace).create(
        workspace=workspace,
        placed_by=user,
        per_style=1,
        total=1,
        resolution=1024,
        queue_name="gpu",
        quota_period=quota_period(),
    )
    mine.styles.add(Style.objects.first())
    urls = {
        "api": f"/api/v1/workspaces/{workspace.pk}/orders/{mine.pk}/",
        "portal": f"/w/{workspace.slug}/orders/{mine.pk}/status/",
    }
    counts, added = {}, 0
    for size in SIZES:
        Order.objects.for_workspace(workspace).bulk_create(
            [
                Order(
                    workspace=workspace,
                    placed_by=user,
                    per_style=1,
                    total=2,
                    resolution=1024,
                    queue_name="gpu-priority",
                    quota_period=quota_period(),
                )
                for _ in range(size - added)
            ],
            batch_size=2000,
        )
        added = size
        cache.clear()
        for url in urls.values():
            session_client.get(url) if url.startswith("/w/") else api.get(url)
        counts[size] = {
            name: len(queries_for(session_client if name == "portal" else api, url))
            for name, url in urls.items()
        }
        assert api.get(urls["api"]).json()["queue"]["position"] == size + 1
    assert counts[SIZES[0]] == counts[SIZES[-1]], counts
