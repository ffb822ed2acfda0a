"""Two worker processes on one device, each started without an id, as an operator
would start a second one to fill a large GPU.

Each takes its own slot id (``host:cpu``, then ``host:cpu#2``) under a lock, so the
second one never hands back, at its start, the order the first one is rendering, and
no order is rendered by both.
"""

from __future__ import annotations

import pytest

from generation import services
from generation.models import Order, WorkerStatus
from tests.e2e.fixtures import AUTO_WORKER_ID
from tests.e2e.support import wait_for, wait_photo_checked
from tests.faults.outcomes import assert_every_order_settled

pytestmark = pytest.mark.slow

STYLES = ["corporate-grey", "modern-office"]
# Long enough for the second worker to start while the first renders; one torch thread
# each, so that two processes on a small CPU do not thrash.
SLOW_ORDER = ["--steps", "6"]
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


def test_two_workers_on_one_device_never_touch_each_others_orders(customer_to_check, start_worker):
    workspace, user, photo = customer_to_check
    first = start_worker(
        worker_id=AUTO_WORKER_ID, args=SLOW_ORDER, env=ONE_THREAD, log_name="first.log"
    )
    photo = wait_photo_checked(photo, worker=first)
    orders = [
        services.order_create(
            workspace=workspace, user=user, photo=photo, style_slugs=STYLES, per_style=1
        )
        for _ in range(3)
    ]
    wait_for(
        lambda: Order.all_workspaces_unscoped.filter(status=Order.Status.RUNNING).exists(),
        timeout=120,
        what="the first worker to start an order",
    )

    second = start_worker(
        worker_id=AUTO_WORKER_ID, args=SLOW_ORDER, env=ONE_THREAD, log_name="second.log"
    )

    assert first.worker_id.endswith(":cpu")
    assert second.worker_id == f"{first.worker_id}#2"
    wait_for(
        lambda: all(Order.all_workspaces_unscoped.get(pk=order.pk).is_finished for order in orders),
        timeout=600,
        what="every order to finish",
    )
    assert "handed back" not in first.this_run_log() + second.this_run_log()
    assert "no longer this worker's" not in first.this_run_log() + second.this_run_log()
    settled = assert_every_order_settled(workspace)
    for order in settled:
        assert order.status == Order.Status.SUCCEEDED
        assert order.done == order.total == 2
        # Started once, by one worker: never taken over or handed back.
        assert order.attempts == 1
    assert set(WorkerStatus.objects.values_list("worker_id", flat=True)) == {
        first.worker_id,
        second.worker_id,
    }


def test_an_explicit_worker_id_already_running_is_refused(customer, start_worker):
    first = start_worker(worker_id="gpu-host-a:cuda:0")
    second = start_worker(worker_id="gpu-host-a:cuda:0", wait_ready=False, log_name="second.log")

    second.process.wait(timeout=120)

    assert second.process.returncode != 0
    assert "another worker process on this host is running as 'gpu-host-a:cuda:0'" in second.log()
    assert first.alive()
