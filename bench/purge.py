"""make bench-purge: one purge run over 100,000 expired selfies, on PostgreSQL, with
local files and then on a moto S3 server on loopback.

For each storage it seeds the selfies (rows in bulk, one small stored object each:
files written from parallel threads, objects put straight into the moto server's
memory by bench.moto_seeded before it starts serving), then times one `purge_run()` (what the hourly schedule
runs: every expired selfie, its stored object, face data and row, and the run's log
row) and checks that nothing is left. Prints seconds and photos/s for each; the goal
is under 60 s each, so a day's selfies of a busy service fit well inside the hour
between runs.

    python -m bench.purge [--photos 100000] [--s3-photos N] [--only local|s3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from bench.common import (
    REPO,
    bench_database_url,
    drop_database,
    free_port,
    manage,
    production_env,
    recreate_database,
    use_database,
    wait_http,
)

GOAL_SECONDS = 60
REGION = "eu-west-1"
# What a stored selfie looks like to the purge: a name and some bytes. Small, so that
# seeding measures nothing but the seeding.
STORED_BYTES = b"\0" * 256
SEED_THREADS = 16


def seed_rows(names: list[str]) -> None:
    from django.utils import timezone

    from accounts.models import Membership, Role, User, Workspace
    from generation.models import SourcePhoto

    tag = uuid.uuid4().hex[:8]
    user = User.objects.create_user(email=f"purge-{tag}@bench.example", password=None)
    workspace = Workspace.objects.create(
        name="Purge bench", slug=f"purge-{tag}", kind=Workspace.Kind.PERSONAL
    )
    Membership.objects.create(workspace=workspace, user=user, role=Role.OWNER)
    expired = timezone.now() - timedelta(hours=1)
    SourcePhoto.all_workspaces_unscoped.bulk_create(
        (
            SourcePhoto(
                workspace=workspace,
                uploaded_by=user,
                storage_name=name,
                width=1024,
                height=1024,
                size_bytes=len(STORED_BYTES),
                face_data=STORED_BYTES,
                created_at=expired - timedelta(hours=24),
                purge_at=expired,
            )
            for name in names
        ),
        batch_size=5000,
    )


def photo_names(count: int) -> list[str]:
    return [f"photos/bench/{uuid.uuid4().hex}.enc" for _ in range(count)]


def timed_purge(label: str, count: int) -> bool:
    from generation import services
    from generation.models import SourcePhoto

    started = time.perf_counter()
    run = services.purge_run()
    seconds = time.perf_counter() - started
    left = SourcePhoto.all_workspaces_unscoped.count()
    ok = run.photos_deleted == count and run.photos_failed == 0 and left == 0
    verdict = "ok" if ok and seconds < GOAL_SECONDS else "MISSED"
    print(
        f"{label}: {count} photos in {seconds:.1f} s = {count / seconds:.0f} photos/s "
        f"(deleted {run.photos_deleted}, failed {run.photos_failed}, rows left {left}; "
        f"goal under {GOAL_SECONDS} s: {verdict})",
        flush=True,
    )
    return ok


def bench_local(count: int, media_root: Path) -> bool:
    names = photo_names(count)
    folder = media_root / "photos" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with ThreadPoolExecutor(SEED_THREADS) as pool:
        list(pool.map(lambda name: (media_root / name).write_bytes(STORED_BYTES), names))
    seed_rows(names)
    # Selfies are hours old when purged, long written back to disk; deleting files still
    # only in the page cache would be far cheaper than the real thing.
    os.sync()
    print(f"seeded {count} local files and rows in {time.perf_counter() - started:.1f} s")
    ok = timed_purge("PostgreSQL + local files", count)
    left = sum(1 for _ in folder.iterdir())
    if left:
        print(f"  {left} files left on disk")
    return ok and not left


def start_seeded_moto(folder: Path, bucket: str, names: list[str]) -> tuple[subprocess.Popen, str]:
    names_file = folder / "s3-names.txt"
    names_file.write_text("".join(f"{name}\n" for name in names))
    port = free_port()
    log = (folder / "moto.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.moto_seeded", "--port", str(port), "--bucket", bucket]
        + ["--region", REGION, "--names", str(names_file), "--size", str(len(STORED_BYTES))],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"
    wait_http(f"{endpoint}/moto-api/", timeout=600)
    return process, endpoint


def bench_s3(count: int, folder: Path) -> bool:
    import boto3
    from django.test.utils import override_settings

    from headshot_site.settings import s3_storage

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    bucket = "headshots-bench"
    names = photo_names(count)
    started = time.perf_counter()
    moto, endpoint = start_seeded_moto(folder, bucket, names)
    try:
        seed_rows(names)
        client = boto3.client("s3", endpoint_url=endpoint, region_name=REGION)
        stored = client.head_object(Bucket=bucket, Key=names[-1])["ContentLength"]
        assert stored == len(STORED_BYTES)
        print(f"seeded {count} S3 objects and rows in {time.perf_counter() - started:.1f} s")
        storages = {"default": s3_storage(bucket, region_name=REGION, endpoint_url=endpoint)}
        with override_settings(STORAGES=storages):
            ok = timed_purge("PostgreSQL + moto S3 server", count)
        left = client.list_objects_v2(Bucket=bucket).get("KeyCount", 0)
        if left:
            print(f"  {left} objects left in the bucket")
        return ok and not left
    finally:
        moto.terminate()
        moto.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--s3-photos", type=int, help="photos on S3 (default: --photos)")
    parser.add_argument("--only", choices=["local", "s3"])
    args = parser.parse_args()

    database_url = bench_database_url("headshots_bench_purge")
    folder = Path(tempfile.mkdtemp(prefix="bench-purge-"))
    media_root = folder / "media"
    recreate_database(database_url)
    try:
        env = production_env(database_url, media_root)
        manage(env, "migrate", "--noinput")
        use_database(env)
        results = []
        if args.only in (None, "local"):
            results.append(bench_local(args.photos, media_root))
        if args.only in (None, "s3"):
            results.append(bench_s3(args.s3_photos or args.photos, folder))
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(database_url)
        shutil.rmtree(folder, ignore_errors=True)
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
