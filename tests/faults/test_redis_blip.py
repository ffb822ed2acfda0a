"""Redis, the broker, goes down for a moment.

On a redis-server of the test's own (not the machine's shared one): the web side and
the GPU worker both use the Redis broker. While Redis is down, the worker is in the
middle of an order and a customer places another one (whose enqueue fails: the order
is placed all the same and waits for recovery). Redis comes back; the scheduler's
recovery (orders_recover_stale) sends the stranded order again. Both are delivered,
each charged once, and the worker is the same process throughout.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta

import pytest
import redis
from django_q.conf import Conf

from generation import services
from generation.models import Order
from tests.e2e.support import wait_for, wait_photo_checked
from tests.faults.outcomes import assert_every_order_settled

pytestmark = pytest.mark.slow

SLOW_ORDER = ["--steps", "40"]
STYLES = ["corporate-grey", "modern-office", "outdoor-natural-light"]


class RedisServer:
    """A redis-server of the test's own, persisting to its folder (append-only file, as
    a broker's Redis should), so a restart keeps the queued messages."""

    def __init__(self, folder, port: int):
        self.folder, self.port = folder, port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self.answers, timeout=20, what="redis-server to answer")

    def answers(self) -> bool:
        try:
            return redis.Redis.from_url(self.url, socket_timeout=1).ping()
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


@pytest.fixture
def redis_server(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    from bench.common import free_port

    server = RedisServer(tmp_path, free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_broker(redis_server, monkeypatch):
    """The web side (this process) enqueues on the test's Redis, like a web process
    started with REDIS_URL. django-q2 reads its configuration once, at import."""
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", redis_server.url)
    monkeypatch.setattr(Conf, "DJANGO_REDIS", None)
    return redis_server


def fresh(order: Order) -> Order:
    return Order.all_workspaces_unscoped.get(pk=order.pk)


def finished(order: Order, worker):
    def check() -> bool:
        # A worker that died with the broker would leave the order waiting for ever.
        assert worker.alive(), "the worker died with the broker:\n" + worker.this_run_log()[-4000:]
        return fresh(order).is_finished

    return check


def test_redis_down_for_a_moment(redis_broker, customer_to_check, start_worker):
    # The broker first: the selfie's face check is queued on the test's Redis.
    workspace, user, photo = customer_to_check
    worker = start_worker(env={"REDIS_URL": redis_broker.url}, args=SLOW_ORDER)
    photo = wait_photo_checked(photo, worker=worker)
    first = services.order_create(
        workspace=workspace, user=user, photo=photo, style_slugs=STYLES, per_style=1
    )
    assert fresh(first).enqueued_at is not None
    wait_for(lambda: fresh(first).done >= 1, timeout=120, what="the worker to start the order")

    redis_broker.stop()
    # Placed while the broker is down: the customer still gets the order.
    second = services.order_create(
        workspace=workspace,
        user=user,
        photo=photo,
        style_slugs=["warm-neutral-studio"],
        per_style=1,
    )
    stranded = fresh(second)
    assert stranded.status == Order.Status.QUEUED and stranded.enqueued_at is None

    wait_for(finished(first, worker), timeout=180, what="the running order to finish")
    redis_broker.start()

    # What the 5-minute schedule does, with no waiting: nothing is running now, so
    # a zero timeout touches only the order that never reached the broker.
    assert services.orders_recover_stale(older_than=timedelta(0)) == 1
    assert fresh(second).enqueued_at is not None
    wait_for(finished(second, worker), timeout=180, what="the stranded order to finish")
    assert "the queue is unavailable" in worker.this_run_log()  # it did meet the outage
    orders = assert_every_order_settled(workspace)
    assert [order.status for order in orders] == [Order.Status.SUCCEEDED] * 2
    assert sum(order.done for order in orders) == len(STYLES) + 1
