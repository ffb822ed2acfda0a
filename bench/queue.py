"""make bench-queue: queue latency, from an order placed to the GPU worker starting it.

For each broker (django-q2's ORM broker on PostgreSQL, then Redis) a real GPU worker
(`manage.py gpu_worker --device cpu` on the tiny offline model set) waits for work,
and this process places orders one at a time through generation.services, as the
portal does. Latency is order.started_at (stamped by the worker when it claims the
order) minus order.created_at (stamped when it is placed); the next order goes in
once the worker is idle again, after a random pause, so each measures the queue and
not the work ahead of it. Prints p50 and p95 for each broker.

    python -m bench.queue [--orders 30]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import (
    REPO,
    bench_database_url,
    drop_database,
    free_port,
    manage,
    percentile,
    production_env,
    recreate_database,
    use_database,
)


def start_redis(folder: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder)]
        + ["--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    for _ in range(100):
        try:
            if redis.Redis.from_url(url).ping():
                return process, url
        except redis.RedisError:
            time.sleep(0.1)
    sys.exit("redis-server did not start")


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    env = {**env, "LOG_LEVEL": "INFO"}  # its "ready" line tells when it waits for work
    process = subprocess.Popen(
        [sys.executable, "manage.py", "gpu_worker", "--device", "cpu", "--worker-id", "bench-q"]
        # The work itself is not what is measured: as little of it as possible.
        + ["--steps", "1", "--likeness-tries", "0"],
        cwd=REPO,
        env=env,
        stdout=open(log, "w"),  # noqa: SIM115 - lives as long as the worker
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 300
    while "worker bench-q ready" not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"the GPU worker did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    return process


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()


def customer():
    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image
    from skimage import data

    from accounts.models import Membership, Role, User, Workspace
    from generation import services

    user = User.objects.create_user(email=f"queue-{time.time_ns()}@bench.example", password=None)
    workspace = Workspace.objects.create(
        name="Queue bench", slug=f"queue-{time.time_ns()}", kind=Workspace.Kind.PERSONAL
    )
    Membership.objects.create(workspace=workspace, user=user, role=Role.OWNER)
    selfie = io.BytesIO()
    Image.fromarray(data.astronaut()).resize((768, 768)).save(selfie, "JPEG", quality=90)
    photo = services.photo_upload(
        workspace=workspace,
        user=user,
        upload=SimpleUploadedFile("selfie.jpg", selfie.getvalue(), content_type="image/jpeg"),
    )
    return workspace, user, photo


def measure(count: int) -> list[float]:
    from django.db import connection

    from generation import services
    from generation.models import Order, QuotaUsage

    workspace, user, photo = customer()
    latencies = []
    for _ in range(count + 1):
        # The free plan's monthly quota would stop the run; the bench is not about it.
        QuotaUsage.objects.for_workspace(workspace).update(used=0)
        time.sleep(random.uniform(0.05, 0.25))
        order = services.order_create(
            workspace=workspace,
            user=user,
            photo=photo,
            style_slugs=["corporate-grey"],
            per_style=1,
        )
        deadline = time.monotonic() + 120
        while True:
            current = Order.all_workspaces_unscoped.get(pk=order.pk)
            if current.is_finished:
                break
            if time.monotonic() > deadline:
                sys.exit(f"order {order.pk} did not finish: {current.status}")
            time.sleep(0.02)
        if current.status != Order.Status.SUCCEEDED:
            sys.exit(f"order {order.pk} {current.status}: {current.error_message}")
        latencies.append((current.started_at - current.created_at).total_seconds() * 1000)
        connection.close()
    # The first order pays for the worker's first face analysis and warm-up.
    return latencies[1:]


def main() -> int:
    parser = argparse.ArgumentParser(description="Queue latency (make bench-queue).")
    parser.add_argument("--orders", type=int, default=30, help="orders a broker")
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        sys.exit("redis-server is not installed (apt-get install -y redis-server)")

    database = bench_database_url("headshots_bench_queue")
    work = Path(tempfile.mkdtemp(prefix="bench-queue-"))
    models = Path(os.environ.get("HEADSHOT_MODEL_DIR") or work / "models")
    env = production_env(
        database,
        work / "media",
        HEADSHOT_MODELS="tiny",
        HEADSHOT_MODEL_DIR=str(models),
        EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
        LOG_FORMAT="plain",
    )
    recreate_database(database)
    manage(env, "migrate", "--noinput")
    use_database(env)
    from django.db import connections
    from django_q.conf import Conf

    results: dict[str, list[float]] = {}
    redis_process, redis_url = start_redis(work)
    try:
        worker = start_worker(env, work / "worker-orm.log")
        try:
            results["ORM broker (PostgreSQL)"] = measure(args.orders)
        finally:
            stop(worker)
        connections.close_all()
        worker = start_worker({**env, "REDIS_URL": redis_url}, work / "worker-redis.log")
        try:
            # This process enqueues as a web process started with REDIS_URL does;
            # django-q2 reads its configuration once, at import.
            Conf.ORM, Conf.REDIS, Conf.DJANGO_REDIS = None, redis_url, None
            results["Redis broker"] = measure(args.orders)
        finally:
            stop(worker)
    finally:
        stop(redis_process)
        connections.close_all()
        if not args.keep_database:
            drop_database(database)
        shutil.rmtree(work, ignore_errors=True)

    print(
        "bench-queue: order placed -> GPU worker start (started_at - created_at), "
        f"{args.orders} orders a broker, one at a time to an idle worker"
    )
    for name, values in results.items():
        print(
            f"  {name:<24} p50 {percentile(values, 50):7.1f} ms   p95 {percentile(values, 95):7.1f} ms"
            f"   (min {min(values):.1f}, max {max(values):.1f}, n {len(values)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
