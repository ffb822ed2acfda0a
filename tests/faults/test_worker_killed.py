"""kill -9 of the GPU worker in the middle of an order.

Nothing runs on a SIGKILL: no handing back, no last write. The order is left running
under the dead worker's id with part of its headshots stored. A worker restarted on
the same host and device (so with the same worker id) hands back at once what its
previous incarnation held; the order is generated to the end, only its missing slots,
and charged once.
"""

from __future__ import annotations

import pytest

from generation import services
from generation.models import Order
from tests.e2e.support import wait_for, wait_photo_checked
from tests.faults.outcomes import assert_every_order_settled

pytestmark = pytest.mark.slow

STYLES = ["corporate-grey", "modern-office", "outdoor-natural-light", "black-and-white-studio"]
# The tiny set makes a headshot in a fraction of a second; more denoising steps make
# an order last a few seconds, so the fault lands between two stored headshots.
SLOW_ORDER = ["--steps", "40"]


def fresh(order: Order) -> Order:
    return Order.all_workspaces_unscoped.get(pk=order.pk)


def test_a_worker_killed_mid_order_is_replaced_and_the_order_finishes_once(
    customer_to_check, start_worker
):
    workspace, user, photo = customer_to_check
    worker = start_worker(args=SLOW_ORDER)
    photo = wait_photo_checked(photo, worker=worker)
    order = services.order_create(
        workspace=workspace, user=user, photo=photo, style_slugs=STYLES, per_style=2
    )
    # Killed with some headshots stored and more to come.
    wait_for(lambda: fresh(order).done >= 1, timeout=120, what="the first headshot of the order")
    worker.kill9()
    killed = fresh(order)
    assert killed.status == Order.Status.RUNNING
    assert killed.worker_id == worker.worker_id
    assert 1 <= killed.done < killed.total == 8

    replacement = start_worker(args=SLOW_ORDER)
    assert replacement.worker_id == worker.worker_id
    wait_for(lambda: fresh(order).is_finished, timeout=180, what="the order to finish")
    assert "handed back 1 orders held by this worker" in replacement.this_run_log()

    [finished] = assert_every_order_settled(workspace)
    assert finished.status == Order.Status.SUCCEEDED
    assert finished.done == finished.total == 8
    # Two starts: the killed one and the replacement's.
    assert finished.attempts == 2
