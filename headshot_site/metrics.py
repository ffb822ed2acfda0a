"""`/metrics`: the service's state in Prometheus text format, for operators' scrapers.

Who may read it (anything else is refused, and the numbers never leave):
- a request with `Authorization: Bearer <METRICS_TOKEN>` (compared in constant time);
  any other Authorization header is 403, even from an internal address;
- without an Authorization header, a request made straight from an address in
  METRICS_INTERNAL_NETWORKS (loopback and the private ranges by default). A request
  that came through a proxy (it carries X-Forwarded-For, Forwarded or X-Real-IP) does
  not count as internal, because REMOTE_ADDR is then the proxy's own address;
- everyone else gets the same 404 as a page that does not exist.

Each scrape runs a fixed number of queries (see generation.operations), whatever
the number of orders, headshots or photos; one per worker row is never made.
"""

import hmac
import ipaddress
import math

from django.conf import settings
from django.http import Http404, HttpResponse, HttpResponseForbidden
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

from generation import operations

PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")
LATENCY_QUANTILES = (0.5, 0.95)


class StudioCollector(Collector):
    """Reads the database and the broker on every scrape; holds no state itself."""

    def collect(self):
        now = timezone.now()

        depths = operations.queue_depths()
        depth = GaugeMetricFamily(
            "headshots_queue_depth",
            "Messages waiting on each broker list (GPU lists and the task cluster's).",
            labels=["queue"],
        )
        up = GaugeMetricFamily(
            "headshots_queue_up", "1 when the broker answered for this list.", labels=["queue"]
        )
        for name, size in depths.items():
            up.add_metric([name], 0 if size is None else 1)
            if size is not None:
                depth.add_metric([name], size)
        yield depth
        yield up

        orders = GaugeMetricFamily(
            "headshots_orders", "Orders in each status, all time.", labels=["status"]
        )
        for status, count in operations.orders_by_status().items():
            orders.add_metric([status], count)
        yield orders

        yield GaugeMetricFamily(
            "headshots_made_last_hour",
            "Headshots created in the last hour.",
            value=operations.headshots_made_since(now - operations.THROUGHPUT_WINDOW),
        )
        yield CounterMetricFamily(
            "headshots_made",
            "Headshots delivered, all time (orders' tallies, unaffected by the retention purge).",
            value=operations.headshots_made_total(),
        )

        latency = GaugeMetricFamily(
            "headshots_order_latency_seconds",
            "Placed-to-delivered time of the orders that succeeded in the last 24 hours "
            "(nearest-rank quantiles; NaN when none did).",
            labels=["quantile"],
        )
        quantiles = operations.order_latency_quantiles(
            since=now - operations.LATENCY_WINDOW, quantiles=LATENCY_QUANTILES
        )
        for q, seconds in quantiles.items():
            latency.add_metric([str(q)], math.nan if seconds is None else seconds)
        yield latency

        heartbeat = GaugeMetricFamily(
            "headshots_worker_heartbeat_age_seconds",
            "Seconds since each running GPU worker's last heartbeat.",
            labels=["worker", "device"],
        )
        busy = GaugeMetricFamily(
            "headshots_worker_busy",
            "1 when the GPU worker is working on an order.",
            labels=["worker", "device"],
        )
        for worker in operations.workers_running():
            labels = [worker.worker_id, worker.device]
            heartbeat.add_metric(labels, max((now - worker.heartbeat_at).total_seconds(), 0.0))
            busy.add_metric(labels, 0 if worker.current_order_id is None else 1)
        yield heartbeat
        yield busy

        yield GaugeMetricFamily(
            "headshots_photo_purge_lag_seconds",
            "How far the oldest selfie is past its purge time (0 when none is).",
            value=operations.photo_purge_lag_seconds(now=now),
        )
        run = operations.last_purge_run()
        last_run = GaugeMetricFamily(
            "headshots_purge_last_run_timestamp_seconds",
            "When the last finished purge run ended (Unix time).",
        )
        last_failed = GaugeMetricFamily(
            "headshots_purge_last_run_failures",
            "Photos and headshots the last finished purge run could not delete.",
        )
        if run is not None:
            last_run.add_metric([], run.finished_at.timestamp())
            last_failed.add_metric([], run.failed)
        yield last_run
        yield last_failed


REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(StudioCollector())


def _is_internal(request) -> bool:
    if any(header in request.headers for header in PROXY_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in settings.METRICS_INTERNAL_NETWORKS)


def _token_matches(header: str) -> bool:
    scheme, _, presented = header.partition(" ")
    token = settings.METRICS_TOKEN
    return (
        bool(token)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(presented.strip().encode(), token.encode())
    )


@never_cache
@require_GET
def metrics(request):
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        if not _token_matches(authorization):
            return HttpResponseForbidden("Forbidden", content_type="text/plain")
    elif not _is_internal(request):
        raise Http404
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_PLAIN_0_0_4)
