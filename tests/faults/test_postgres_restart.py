"""PostgreSQL restarts while the GPU worker is writing an order's results.

Every connection is cut, the worker's included, between one stored headshot and the
next. The worker must ride it out: what was stored stays in its slots, the claim is
still its own, so it resumes the same order when the database is back and ends it
with exactly the ordered headshots, charged once.

Restarts this machine's own cluster (pg_ctlcluster); it makes sure the cluster is up
again however the test ends. PostgreSQL only.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from django.db import connection, connections

from generation import services
from generation.models import Order
from tests.e2e.support import wait_for, wait_photo_checked
from tests.faults.outcomes import assert_every_order_settled

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="restarts PostgreSQL; run on PostgreSQL"
    ),
]

STYLES = ["corporate-grey", "modern-office", "outdoor-natural-light", "black-and-white-studio"]
# The tiny set makes a headshot in a fraction of a second; more denoising steps make
# an order last a few seconds, so the fault lands between two stored headshots.
SLOW_ORDER = ["--steps", "40"]


def local_cluster() -> tuple[str, str]:
    versions = (
        sorted(Path("/etc/postgresql").glob("*/main")) if Path("/etc/postgresql").exists() else []
    )
    if not versions or shutil.which("pg_ctlcluster") is None:
        pytest.skip("no local PostgreSQL cluster managed by pg_ctlcluster here")
    host = connection.settings_dict.get("HOST") or "localhost"
    if host not in {"127.0.0.1", "localhost", "::1", ""}:
        pytest.skip(f"the test database is on {host}, not this machine's cluster")
    return versions[-1].parent.name, "main"


def pg_ctl(version: str, cluster: str, action: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, action],
        capture_output=True,
        text=True,
        timeout=120,
    )


def database_answers() -> bool:
    try:
        connections["default"].close()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # any failure to connect means "not yet"
        return False


@pytest.fixture
def cluster():
    version, name = local_cluster()
    yield version, name
    # Whatever happened, leave the machine's database running.
    if not database_answers():
        pg_ctl(version, name, "start")
        wait_for(database_answers, timeout=60, what="PostgreSQL to come back", every=0.5)


def fresh(order: Order) -> Order:
    return Order.all_workspaces_unscoped.get(pk=order.pk)


def test_postgres_restart_while_the_worker_writes_results(customer_to_check, start_worker, cluster):
    workspace, user, photo = customer_to_check
    worker = start_worker(args=SLOW_ORDER)
    photo = wait_photo_checked(photo, worker=worker)
    order = services.order_create(
        workspace=workspace, user=user, photo=photo, style_slugs=STYLES, per_style=2
    )
    wait_for(lambda: fresh(order).done >= 1, timeout=120, what="the first stored headshot")

    restarted = pg_ctl(*cluster, "restart")
    assert restarted.returncode == 0, restarted.stderr
    wait_for(database_answers, timeout=60, what="PostgreSQL to answer again", every=0.5)
    cut_at = fresh(order)
    fresh_done = cut_at.done
    # The restart did land mid-order: the order was not finished when it came back.
    assert cut_at.status == Order.Status.RUNNING and fresh_done < cut_at.total, cut_at

    wait_for(lambda: fresh(order).is_finished, timeout=180, what="the order to finish")
    assert worker.alive(), worker.this_run_log()
    log = worker.this_run_log()
    assert "database unavailable" in log or "heartbeat failed" in log, (
        "the worker never noticed the restart"
    )
    [finished] = assert_every_order_settled(workspace)
    assert finished.status == Order.Status.SUCCEEDED
    assert finished.done == finished.total == 8
