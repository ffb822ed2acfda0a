"""A queued order says where it stands: no generator running, or its place in the queue
and an expected start from the recent pace; the studio and staff see the same."""

from datetime import timedelta

import pytest
from django.utils import timezone

from generation.models import Headshot, Order, WorkerStatus
from generation.queue_selectors import (
    generators_running,
    new_order_queue_standing,
    order_queue_standing,
    queued_orders_standing,
)
from tests.factories import MembershipFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

NO_GENERATOR = (
    "No generator is running right now. Your order is saved and starts as soon as one is."
)


def make_order(workspace, user, *, queue="gpu", status=Order.Status.QUEUED, total=4, done=0, ago=0):
    return Order.objects.for_workspace(workspace).create(
        workspace=workspace,
        placed_by=user,
        per_style=total,
        total=total,
        done=done,
        status=status,
        resolution=1024,
        queue_name=queue,
        quota_period=timezone.now().date().replace(day=1),
        created_at=timezone.now() - timedelta(seconds=ago),
    )


def worker(worker_id: str, *, seconds_ago: float = 1, stopped: bool = False) -> WorkerStatus:
    now = timezone.now()
    return WorkerStatus.objects.create(
        worker_id=worker_id,
        hostname="gpu-host",
        pid=1,
        device="cuda:0",
        model_set="real",
        started_at=now - timedelta(hours=1),
        heartbeat_at=now - timedelta(seconds=seconds_ago),
        stopped_at=now if stopped else None,
    )


def recent_images(order, style, *, seconds: float, count: int) -> None:
    Headshot.objects.for_workspace(order.workspace).bulk_create(
        Headshot(
            workspace=order.workspace,
            order=order,
            style=style,
            index=index,
            seed=index,
            width=1024,
            height=1024,
            file=f"headshots/{index}.jpg",
            thumbnail=f"headshots/{index}-thumb.jpg",
            content_type="image/jpeg",
            generation_seconds=seconds,
        )
        for index in range(count)
    )


def test_only_workers_with_a_recent_heartbeat_that_did_not_stop_count(settings):
    settings.GPU_HEARTBEAT_TIMEOUT = 120
    worker("alive", seconds_ago=5)
    worker("silent", seconds_ago=300)
    worker("stopped", seconds_ago=5, stopped=True)
    assert generators_running() == 1


def test_with_no_generator_every_surface_says_so(client, api, workspace, user, free_style):
    worker("gone", seconds_ago=3600)
    order = make_order(workspace, user)
    order.styles.add(free_style)

    standing = order_queue_standing(order=order)
    assert not standing.generator_running
    assert standing.estimated_start is None
    assert standing.message == NO_GENERATOR

    queue = api.get(f"/api/v1/workspaces/{workspace.pk}/orders/{order.pk}/").json()["queue"]
    assert queue == {
        "generator_running": False,
        "position": 1,
        "orders_ahead": 0,
        "estimated_start": None,
        "message": NO_GENERATOR,
    }
    client.force_login(user)
    polled = client.get(f"/w/{workspace.slug}/orders/{order.pk}/status/").json()
    assert polled["queue"] == queue
    assert NO_GENERATOR in client.get(f"/w/{workspace.slug}/orders/{order.pk}/").content.decode()
    studio = client.get(f"/w/{workspace.slug}/").content.decode()
    assert "No generator is running right now: new orders wait in the queue" in studio


def test_place_and_expected_start_follow_the_queue_order_and_the_recent_pace(
    api, workspace, user, free_style
):
    worker("a")
    worker("b")
    other = MembershipFactory(workspace=WorkspaceFactory()).workspace
    running = make_order(other, None, status=Order.Status.RUNNING, total=4, done=1)
    recent_images(running, free_style, seconds=10.0, count=3)
    # Paid work goes first, whenever it was placed; free work first come, first served.
    free_early = make_order(other, None, queue="gpu", total=2, ago=60)
    mine = make_order(workspace, user, queue="gpu", total=4, ago=30)
    make_order(other, None, queue="gpu", total=8, ago=10)  # later: not ahead
    paid_late = make_order(other, None, queue="gpu-priority", total=6, ago=5)
    make_order(other, None, status=Order.Status.SUCCEEDED, total=4, done=4)

    standing = order_queue_standing(order=mine)
    assert standing.generators == 2
    assert standing.position == 3
    assert standing.orders_ahead == 2
    # 3 left of the running order, 6 paid, 2 free placed earlier: 11 images at 10 s,
    # shared by two generators.
    assert standing.images_before == 11
    assert standing.seconds_per_image == 10.0
    assert standing.estimated_start - standing.now == timedelta(seconds=55)
    assert standing.message == "Number 3 in the queue; expected to start within a minute."

    assert order_queue_standing(order=paid_late).position == 1
    assert order_queue_standing(order=free_early).position == 2
    assert order_queue_standing(order=running) is None

    body = api.get(f"/api/v1/workspaces/{workspace.pk}/orders/{mine.pk}/").json()
    assert body["queue"]["position"] == 3
    assert body["queue"]["generator_running"] is True
    assert body["queue"]["estimated_start"].endswith("Z")
    # Lists leave it out: one order's endpoint says where it stands.
    listed = api.get(f"/api/v1/workspaces/{workspace.pk}/orders/").json()["results"]
    assert [item["queue"] for item in listed] == [None]

    # Staff see the whole queue in the same order, with the same expected starts.
    rows = queued_orders_standing()
    assert [(order.pk, standing.position) for order, standing in rows][:3] == [
        (paid_late.pk, 1),
        (free_early.pk, 2),
        (mine.pk, 3),
    ]
    assert rows[2][1].images_before == 11


def test_the_expected_start_is_in_minutes_for_a_long_queue(workspace, user, free_style):
    worker("a")
    done = make_order(workspace, user, status=Order.Status.SUCCEEDED, total=50, done=50)
    recent_images(done, free_style, seconds=30.0, count=50)
    for _ in range(10):
        make_order(workspace, user, total=4, ago=60)
    standing = new_order_queue_standing(queue_name="gpu")
    assert standing.position == 11
    assert standing.images_before == 40
    assert standing.start_in_words == "in about 20 minutes"
    assert (
        standing.new_order_message
        == "10 orders waiting; a new order would start in about 20 minutes."
    )


def test_before_the_first_image_there_is_a_place_but_no_estimate(workspace, user):
    worker("a")
    order = make_order(workspace, user)
    standing = order_queue_standing(order=order)
    assert standing.estimated_start is None
    assert standing.message == "Next in the queue."
    assert new_order_queue_standing(queue_name="gpu-priority").new_order_message == (
        "A generator is free: a new order starts right away."
    )
