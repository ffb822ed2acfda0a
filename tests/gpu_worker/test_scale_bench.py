"""`make bench-scale` keeps working: a short run with real worker processes, Redis and
PostgreSQL delivers every order exactly once (the figures themselves mean nothing here).

The worker's own preparation before it says it is ready is tested here too: loading
the URL map and the finished email's template on the first order, inside the measured
window, was what kept eight workers under 90% of linear.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

REPO = Path(__file__).resolve().parents[2]


def _answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
def test_a_short_scale_run_delivers_every_order_once_with_one_and_two_workers():
    if connection.vendor != "postgresql" or not _answers(6379):
        pytest.skip("the scale bench runs on PostgreSQL (DATABASE_URL) and Redis on 6379")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.scale",
            "--workers",
            "1,2",
            "--orders",
            "6",
            "--gpu-seconds",
            "0.02",
        ],
        cwd=REPO,
        env={
            **os.environ,
            "DATABASE_URL": os.environ["DATABASE_URL"],
            "BENCH_REDIS_URL": "redis://127.0.0.1:6379/14",
        },
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    rows = re.findall(r"^\s+(\d)\s+[\d.]+\s+\S+\s+(\d+)\s+(\d+)\s", run.stdout, re.MULTILINE)
    assert rows == [("1", "0", "0"), ("2", "0", "0")], run.stdout


class _Recorder(logging.Handler):
    def __init__(self, events: list[str]) -> None:
        super().__init__()
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        if "ready" in record.getMessage():
            self.events.append("ready")


@pytest.mark.django_db
def test_the_worker_loads_what_finishing_an_order_needs_before_it_says_ready(monkeypatch):
    from generation import services
    from gpu_worker.worker import GpuWorker

    events: list[str] = []
    monkeypatch.setattr(services, "order_finished_email_prepare", lambda: events.append("prepared"))
    recorder = _Recorder(events)
    gpu_logger = logging.getLogger("gpu_worker")
    gpu_logger.addHandler(recorder)
    try:
        worker = GpuWorker(
            engine=object(),  # type: ignore[arg-type]  # never reached: no order is taken
            device="cpu",
            model_set="none",
            worker_id="prepare-test",
        )
        worker.run(max_orders=0)
    finally:
        gpu_logger.removeHandler(recorder)

    assert events == ["prepared", "ready"]
