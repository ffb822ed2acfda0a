"""make bench-scale: GPU workers scaling out, with the GPU simulated.

1, 2, 4 and 8 worker processes (`bench.scale_worker`: the real worker loop, brokers
and services, with a simulated engine that sleeps a set GPU time per image) take a few
hundred orders from Redis, against PostgreSQL. The orders are placed in one burst once
every worker waits for work. For each worker count it prints throughput against
linear scaling from one worker, duplicates (headshots beyond an order's total, or an
order started twice: must be 0), lost orders (not delivered: must be 0) and the
queue-wait percentiles (order placed -> a worker starts it).

    python -m bench.scale [--orders 200] [--gpu-seconds 0.25] [--workers 1,2,4,8]
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    REPO,
    bench_database_url,
    drop_database,
    manage,
    percentile,
    production_env,
    recreate_database,
    use_database,
)

IMAGES_PER_ORDER = 2
DEFAULT_REDIS = "redis://127.0.0.1:6379/5"


@dataclass
class Result:
    workers: int
    orders: int
    seconds: float
    duplicates: int
    lost: int
    waits: list[float]

    @property
    def throughput(self) -> float:
        return self.orders / self.seconds


def start_workers(count: int, env: dict[str, str], gpu_seconds: float, logs: Path):
    processes = []
    for number in range(1, count + 1):
        log = logs / f"worker-{count}-{number}.log"
        processes.append(
            (
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "bench.scale_worker",
                        "--worker-id",
                        f"scale-{count}-{number}",
                        "--gpu-seconds",
                        str(gpu_seconds),
                    ],
                    cwd=REPO,
                    env={**env, "LOG_LEVEL": "INFO", "LOG_FORMAT": "plain"},
                    stdout=open(log, "w"),  # noqa: SIM115 - lives as long as the worker
                    stderr=subprocess.STDOUT,
                ),
                log,
                f"scale-{count}-{number}",
            )
        )
    deadline = time.monotonic() + 300
    for process, log, worker_id in processes:
        while f"worker {worker_id} ready" not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"worker {worker_id} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
    return [process for process, _, _ in processes]


def stop_workers(processes) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def customer():
    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    from accounts.models import Membership, Role, User, Workspace
    from bench.scale_worker import SimulatedEngine
    from generation import services
    from gpu_worker.pipeline.faces import face_to_bytes

    user = User.objects.create_user(email=f"scale-{time.time_ns()}@bench.example", password=None)
    workspace = Workspace.objects.create(
        name="Scale bench", slug=f"scale-{time.time_ns()}", kind=Workspace.Kind.PERSONAL
    )
    Membership.objects.create(workspace=workspace, user=user, role=Role.OWNER)
    selfie = io.BytesIO()
    Image.new("RGB", (640, 640), (180, 140, 120)).save(selfie, "JPEG", quality=90)
    photo = services.photo_upload(
        workspace=workspace,
        user=user,
        upload=SimpleUploadedFile("selfie.jpg", selfie.getvalue(), content_type="image/jpeg"),
    )
    # The face check is seconds of priority work before a customer can order; the bench
    # measures orders, so the selfie starts out checked with the simulated face.
    services.photo_check_passed(
        photo=photo, face_data=face_to_bytes(SimulatedEngine(gpu_seconds=0).analyze_face(None))
    )
    return workspace, user, photo


def place_orders(count: int) -> list[int]:
    """``count`` orders in one transaction: their queue messages go out in one burst
    when it commits, so every worker count starts from the same full queue."""
    from django.db import transaction

    from generation import services
    from generation.models import FreeAllowanceUsage, QuotaUsage

    workspace, user, photo = customer()
    ids = []
    with transaction.atomic():
        for _ in range(count):
            # The free plan's monthly quota and allowance would stop the run; the bench is not about it.
            QuotaUsage.objects.for_workspace(workspace).update(used=0)
            FreeAllowanceUsage.objects.filter(user=user).update(used=0)
            order = services.order_create(
                workspace=workspace,
                user=user,
                photo=photo,
                style_slugs=["corporate-grey"],
                per_style=IMAGES_PER_ORDER,
            )
            ids.append(order.pk)
    return ids


def measure(workers: int, orders: int, env, gpu_seconds: float, logs: Path) -> Result:
    import redis
    from django.db import connection
    from django.db.models import Count

    from generation.models import Order

    redis.Redis.from_url(env["REDIS_URL"]).flushdb()
    processes = start_workers(workers, env, gpu_seconds, logs)
    try:
        placed = time.monotonic()
        ids = place_orders(orders)
        timeout = 60 + 4 * orders * IMAGES_PER_ORDER * gpu_seconds / workers
        while True:
            unfinished = (
                Order.all_workspaces_unscoped.filter(pk__in=ids)
                .exclude(status__in=[Order.Status.SUCCEEDED, Order.Status.FAILED])
                .count()
            )
            if not unfinished or time.monotonic() - placed > timeout:
                break
            time.sleep(0.05)
    finally:
        stop_workers(processes)
    finished = Order.all_workspaces_unscoped.filter(pk__in=ids)
    succeeded = finished.filter(status=Order.Status.SUCCEEDED)
    first_start = min(finished.values_list("started_at", flat=True))
    last_finish = max(succeeded.values_list("finished_at", flat=True))
    extra_headshots = sum(
        max(0, count - IMAGES_PER_ORDER)
        for count in finished.annotate(n=Count("headshots")).values_list("n", flat=True)
    )
    started_twice = finished.filter(attempts__gt=1).count()
    waits = [
        (started - created).total_seconds() * 1000
        for created, started in finished.values_list("created_at", "started_at")
        if started is not None
    ]
    connection.close()
    return Result(
        workers=workers,
        orders=succeeded.count(),
        seconds=(last_finish - first_start).total_seconds(),
        duplicates=extra_headshots + started_twice,
        lost=len(ids) - succeeded.count(),
        waits=waits,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description="GPU workers scaling out (make bench-scale).")
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--gpu-seconds", type=float, default=0.25, help="simulated, per image")
    parser.add_argument("--workers", default="1,2,4,8")
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args()
    counts = [int(count) for count in args.workers.split(",")]

    database = bench_database_url("headshots_bench_scale")
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    env = production_env(
        database,
        work / "media",
        REDIS_URL=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS),
        EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
        HEADSHOT_WORKER_LOCK_DIR=str(work / "locks"),
        DB_CONN_MAX_AGE="600",
    )
    recreate_database(database)
    manage(env, "migrate", "--noinput")
    use_database(env)
    results = []
    try:
        for count in counts:
            results.append(measure(count, args.orders, env, args.gpu_seconds, work))
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep_database:
            drop_database(database)

    one = next((r for r in results if r.workers == 1), None)
    print(
        f"bench-scale: {args.orders} orders x {IMAGES_PER_ORDER} images, simulated GPU "
        f"{args.gpu_seconds * 1000:.0f} ms an image, Redis broker, PostgreSQL"
    )
    print(
        f"  {'workers':>7}  {'orders/s':>8}  {'vs linear':>9}  {'duplicates':>10}  {'lost':>4}"
        f"  {'wait p50':>9}  {'wait p95':>9}  {'wait p99':>9}"
    )
    for result in results:
        linear = f"{result.throughput / (one.throughput * result.workers):9.0%}" if one else "-"
        print(
            f"  {result.workers:>7}  {result.throughput:8.2f}  {linear:>9}  {result.duplicates:>10}"
            f"  {result.lost:>4}  {percentile(result.waits, 50) / 1000:8.2f}s"
            f"  {percentile(result.waits, 95) / 1000:8.2f}s  {percentile(result.waits, 99) / 1000:8.2f}s"
        )
    print(f"  ideal: {1 / (IMAGES_PER_ORDER * args.gpu_seconds):.2f} orders/s a worker")
    return 0 if all(r.duplicates == 0 and r.lost == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
