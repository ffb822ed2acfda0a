"""What a customer sees while their order waits: first with no generator running, then
behind a queue, on the studio and the order page, at desktop and phone width
(screenshots under tests/artifacts/e2e/queue-standing/)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from generation import services
from generation.models import Order
from tests.e2e.browser import Camera
from tests.factories import MembershipFactory, WorkspaceFactory
from tests.generation.test_queue_standing import make_order, recent_images, worker

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def signed_in(browser, portal: str, user) -> None:
    client = Client()
    client.force_login(user)
    browser.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": portal}]
    )


def test_a_waiting_order_says_no_generator_runs_then_its_place_in_the_queue(
    portal, open_browser, customer
):
    workspace, user, photo = customer
    order = services.order_create(
        workspace=workspace, user=user, photo=photo, style_slugs=["corporate-grey"], per_style=2
    )
    camera = Camera("queue-standing")
    browser = open_browser("customer")
    signed_in(browser, portal, user)
    page = browser.new_page()

    page.goto(f"{portal}/w/{workspace.slug}/")
    assert page.inner_text("#queue-standing") == (
        "No generator is running right now: new orders wait in the queue and start as soon "
        "as one is."
    )
    camera.shot(page, "studio with no generator")
    page.goto(f"{portal}/w/{workspace.slug}/orders/{order.pk}/")
    assert page.inner_text("#order-status") == "Queued"
    assert page.inner_text("#order-progress-text") == (
        "No generator is running right now. Your order is saved and starts as soon as one is."
    )
    camera.shot(page, "order with no generator")

    # Two generators come up, busy with other workspaces' paid orders; the pace is 30 s
    # an image.
    worker("gpu-host-a")
    worker("gpu-host-b")
    others = MembershipFactory(workspace=WorkspaceFactory()).workspace
    done = make_order(others, None, status=Order.Status.SUCCEEDED, total=20, done=20, ago=900)
    recent_images(done, order.styles.first(), seconds=30.0, count=20)
    make_order(others, None, status=Order.Status.RUNNING, total=8, done=2)
    for _ in range(5):
        make_order(others, None, queue="gpu-priority", total=8)

    # The open page follows by itself, without a reload.
    page.get_by_text(re.compile(r"^Number 6 in the queue; expected to start in about")).wait_for(
        timeout=10_000
    )
    text = page.inner_text("#order-progress-text")
    # 6 left of the running order and 40 paid ones: 46 images at 30 s on two generators.
    assert text == "Number 6 in the queue; expected to start in about 12 minutes.", text
    camera.shot(page, "order in the queue")
    page.goto(f"{portal}/w/{workspace.slug}/")
    # A new order would also wait for this customer's own (2 images): 48 images, 12 min.
    assert page.inner_text("#queue-standing") == (
        "6 orders waiting; a new order would start in about 12 minutes."
    )
    camera.shot(page, "studio with a queue")
    assert len(camera.saved) == 8
