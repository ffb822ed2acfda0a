"""make bench-web: the web tier under load, on PostgreSQL.

gunicorn serves the product (DEBUG off, as deployed; sync workers, as bin/run-studio
runs it) from a scratch database seeded with many customers and their orders. From
separate processes (wrk, Debian's C load generator, scripted by bench/wrk/load.lua)
two kinds of load run at once for a fixed time:

- status polls: GET /api/v1/workspaces/{wid}/orders/{id}/ with token auth, each
  request for a random one of --clients customers, its own running order and its
  own token, over --poll-connections connections;
- portal page views: signed-in people opening the studio, an order page or the
  order history, --page-rate a second (bench/pageviews.py, open loop: a view starts
  on time whether or not the earlier ones were answered).

Each poll connection sends its next request as soon as the last is answered (wrk's
closed loop, as DESIGN.md's baseline was measured), so the poll figures are what the
server sustains at full load while the page views go on. Printed for each kind:
requests per second, p50/p95/p99 latency and the error count. The targets: at least
500 status polls a second, p99 under 100 ms, no errors. (--interval-ms makes each poll
connection wait between requests instead; with sync workers an idle connection holds
a worker, so pair it with --threads.)

    python -m bench.web [--duration 30] [--clients 550] [--poll-connections 12]
                        [--page-rate 10] [--workers 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import (
    REPO,
    VENV_BIN,
    bench_database_url,
    drop_database,
    free_port,
    manage,
    production_env,
    recreate_database,
    use_database,
    wait_http,
)

LUA = REPO / "bench" / "wrk" / "load.lua"
POLL_TARGET_RPS = 500
POLL_TARGET_P99_MS = 100


def seed(*, clients: int, orders_each: int, page_orders: int) -> tuple[list[str], list[str], str]:
    """Customers with tokens and orders; one team owner signed in for the portal.

    Returns the poll request lines, the page request lines and a summary.
    """
    from django.contrib.auth.hashers import make_password
    from django.test import Client
    from django.utils import timezone

    from accounts.models import Membership, PersonalAccessToken, Role, User, Workspace
    from generation.models import Headshot, Order, Style
    from generation.selectors import quota_period

    styles = list(Style.objects.filter(tier="free").order_by("position")[:2])
    password = make_password("bench-password-not-secret")
    now = timezone.now()
    users = User.objects.bulk_create(
        [User(email=f"client{n}@bench.example", password=password) for n in range(clients + 1)]
    )
    workspaces = Workspace.objects.bulk_create(
        [
            Workspace(
                name=f"Bench {n}",
                slug=f"bench-{n}",
                kind=Workspace.Kind.TEAM if n == clients else Workspace.Kind.PERSONAL,
                created_by=user,
            )
            for n, user in enumerate(users)
        ]
    )
    Membership.objects.bulk_create(
        [
            Membership(workspace=workspace, user=user, role=Role.OWNER)
            for user, workspace in zip(users, workspaces, strict=True)
        ]
    )
    # knox hashes each token as it makes it; only these returned strings can be sent.
    tokens = [
        PersonalAccessToken.objects.create(user=user, name="bench")[1] for user in users[:clients]
    ]

    def order(workspace, user, *, running: bool) -> Order:
        # A polled order is mid-way: 2 of its 4 headshots made. The rest are done.
        return Order(
            workspace=workspace,
            placed_by=user,
            per_style=2,
            total=4,
            done=2 if running else 4,
            status=Order.Status.RUNNING if running else Order.Status.SUCCEEDED,
            stage="Creating Modern office (2 of 2)" if running else "",
            resolution=1024,
            queue_name="gpu",
            quota_period=quota_period(),
            worker_id="bench:cuda:0" if running else "",
            heartbeat_at=now,
            started_at=now,
            finished_at=None if running else now,
        )

    plan = []
    for n, (user, workspace) in enumerate(zip(users, workspaces, strict=True)):
        count = page_orders if n == clients else orders_each
        plan += [(workspace, user, index == count - 1) for index in range(count)]
    orders = Order.all_workspaces_unscoped.bulk_create(
        [order(workspace, user, running=running) for workspace, user, running in plan],
        batch_size=2000,
    )
    through = Order.styles.through
    through.objects.bulk_create(
        [through(order_id=o.pk, style_id=s.pk) for o in orders for s in styles], batch_size=5000
    )
    # Slots in order: both of the first style, then both of the second (done 2 or 4).
    slots = [(style, index) for style in styles for index in range(2)]
    headshots = [
        Headshot(
            workspace_id=o.workspace_id,
            order=o,
            style=style,
            index=index,
            seed=index,
            width=1024,
            height=1024,
            file=f"headshots/{o.workspace_id}/{o.pk}/{style.slug}-{index}.jpg",
            thumbnail=f"headshots/{o.workspace_id}/{o.pk}/{style.slug}-{index}-thumb.jpg",
            content_type="image/jpeg",
        )
        for o in orders
        for style, index in slots[: o.done]
    ]
    Headshot.all_workspaces_unscoped.bulk_create(headshots, batch_size=5000)

    running = {o.workspace_id: o for o in orders if o.status == Order.Status.RUNNING}
    polls = [
        f"/api/v1/workspaces/{workspace.pk}/orders/{running[workspace.pk].pk}/"
        f"\tAuthorization: Token {token}\tAccept: application/json"
        for workspace, token in zip(workspaces[:clients], tokens, strict=True)
    ]
    owner, team = users[clients], workspaces[clients]
    browser = Client()
    browser.force_login(owner)
    cookie = f"Cookie: sessionid={browser.cookies['sessionid'].value}"
    pages = [
        f"{path}\t{cookie}\tAccept: text/html"
        for path in (
            f"/w/{team.slug}/",
            f"/w/{team.slug}/orders/{running[team.pk].pk}/",
            f"/w/{team.slug}/orders/",
        )
    ]
    summary = (
        f"{clients} API clients with {orders_each} orders each, a team with {page_orders}; "
        f"{len(orders):,} orders and {len(headshots):,} headshots in all"
    )
    return polls, pages, summary


def wrk(url: str, targets: Path, *, connections: int, duration: int, interval_ms: int):
    return subprocess.Popen(
        [
            "wrk",
            "--threads",
            "1",
            "--connections",
            str(connections),
            "--duration",
            f"{duration}s",
            "--timeout",
            "5s",
            "--script",
            str(LUA),
            url,
            "--",
            str(targets),
            str(interval_ms),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def result_of(process: subprocess.Popen) -> dict:
    output, _ = process.communicate()
    for line in output.splitlines():
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"wrk printed no result:\n{output}")


def line(name: str, result: dict) -> str:
    rps = result["requests"] / (result["duration_us"] / 1e6)
    errors = sum(result["errors"].values())
    return (
        f"  {name:<13} {rps:8.1f} req/s   p50 {result['p50_us'] / 1000:6.1f} ms   "
        f"p95 {result['p95_us'] / 1000:6.1f} ms   p99 {result['p99_us'] / 1000:6.1f} ms   "
        f"errors {errors} of {result['requests']:,}" + (f" {result['errors']}" if errors else "")
    )


def main() -> int:
    parser = argparse.ArgumentParser(description="The web tier under load (make bench-web).")
    parser.add_argument("--duration", type=int, default=30, help="seconds of measured load")
    parser.add_argument(
        "--clients", type=int, default=550, help="customers whose orders are polled"
    )
    parser.add_argument("--poll-connections", type=int, default=12)
    parser.add_argument("--page-rate", type=float, default=10, help="page views a second")
    parser.add_argument(
        "--interval-ms", type=int, default=0, help="wait between a connection's requests"
    )
    parser.add_argument("--orders-each", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker")
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk (make bench-web does it as root)")

    database = bench_database_url("headshots_bench_web")
    media = Path(tempfile.mkdtemp(prefix="bench-web-media-"))
    env = production_env(database, media)
    recreate_database(database)
    started = time.monotonic()
    manage(env, "migrate", "--noinput")
    manage(env, "collectstatic", "--noinput")
    use_database(env)
    polls, pages, summary = seed(
        clients=args.clients, orders_each=args.orders_each, page_orders=200
    )
    from django.db import connection, connections

    with connection.cursor() as cursor:
        # Planner statistics, as a database in service has them after bulk loading.
        cursor.execute("ANALYZE")
    connections.close_all()
    work = Path(tempfile.mkdtemp(prefix="bench-web-"))
    (work / "polls.txt").write_text("\n".join(polls) + "\n")
    (work / "pages.txt").write_text("\n".join(pages) + "\n")
    print(f"seeded in {time.monotonic() - started:.0f} s: {summary}", flush=True)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(VENV_BIN / "gunicorn"),
        "headshot_site.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        f"--workers={args.workers}",
        f"--threads={args.threads}",
        "--backlog=2048",
        "--keep-alive=75",
    ]
    if Path("/dev/shm").is_dir():
        # gunicorn touches a heartbeat file per request; in memory, not on disk.
        command.append("--worker-tmp-dir=/dev/shm")
    server = subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(work / "gunicorn.log", "w"),  # noqa: SIM115 - lives as long as the server
    )
    try:
        wait_http(f"{url}/healthz")
        # Warm up every worker (imports, connections, templates) before measuring.
        for process in (
            wrk(url, work / "polls.txt", connections=16, duration=3, interval_ms=0),
            wrk(url, work / "pages.txt", connections=2, duration=3, interval_ms=0),
        ):
            result_of(process)
        poll = wrk(
            url,
            work / "polls.txt",
            connections=args.poll_connections,
            duration=args.duration,
            interval_ms=args.interval_ms,
        )
        page = subprocess.Popen(
            [sys.executable, "-m", "bench.pageviews", url, str(work / "pages.txt")]
            + [str(args.page_rate), str(args.duration)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        polled, paged = result_of(poll), result_of(page)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(media, ignore_errors=True)
        if not args.keep_database:
            drop_database(database)

    kind = f"{args.threads} threads each (gthread)" if args.threads > 1 else "sync"
    pace = (
        "the next request as soon as the last is answered"
        if args.interval_ms <= 0
        else f"about {args.interval_ms} ms between requests"
    )
    print(
        f"bench-web: gunicorn, {args.workers} workers ({kind}), PostgreSQL, DEBUG off; "
        f"{args.duration} s; load from separate processes on the same machine (wrk for the "
        f"polls, {pace})"
    )
    print(
        f"  status polls: GET /api/v1/workspaces/{{wid}}/orders/{{id}}/ (token auth), a random one "
        f"of {args.clients} customers each time, {args.poll_connections} connections"
    )
    print(
        f"  portal pages: studio, order page, order history (signed in), {args.page_rate:g} "
        "views a second, each on time (open loop)"
    )
    print(line("status polls", polled))
    print(line("portal pages", paged))
    poll_rps = polled["requests"] / (polled["duration_us"] / 1e6)
    checks = {
        f"status polls >= {POLL_TARGET_RPS}/s": poll_rps >= POLL_TARGET_RPS,
        f"status poll p99 < {POLL_TARGET_P99_MS} ms": polled["p99_us"] < POLL_TARGET_P99_MS * 1000,
        "no errors": sum(polled["errors"].values()) + sum(paged["errors"].values()) == 0,
    }
    print(
        "  targets: "
        + "; ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in checks.items())
    )
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
