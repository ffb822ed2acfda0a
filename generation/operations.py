"""Cross-tenant reads for staff and operators: queue depth, throughput, latency, workers,
the purge. The admin's worker-health page and /metrics both read from here.

Every function costs a fixed number of queries whatever the volume: counts and
aggregates in the database, and quantiles as one ordered row fetched at an offset
(nearest rank), so neither page loads rows per order, headshot or photo.
"""

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, QuerySet, Sum
from django.utils import timezone

from .models import Headshot, Order, PurgeRun, SourcePhoto, WorkerStatus
from .queue import queue_size, watched_queue_names

logger = logging.getLogger(__name__)

THROUGHPUT_WINDOW = timedelta(hours=1)
LATENCY_WINDOW = timedelta(hours=24)


def queue_depths() -> dict[str, int | None]:
    """Messages waiting on each broker list; None where the broker did not answer."""
    depths: dict[str, int | None] = {}
    for name in watched_queue_names():
        try:
            depths[name] = queue_size(name)
        # Redis down, a network error, ...: report the queue as unknown rather than
        # failing the whole page; /healthz says which part is down.
        except Exception as error:
            logger.warning("queue depth unavailable", extra={"queue": name, "error": str(error)})
            depths[name] = None
    return depths


def nearest_rank(values: QuerySet, quantiles: Sequence[float]) -> dict[float, object | None]:
    """Quantiles of a one-column, ordered, non-null values_list: one count, then one
    row per quantile. None for each when there are no values."""
    count = values.count()
    if count == 0:
        return {q: None for q in quantiles}
    return {q: values[max(math.ceil(q * count), 1) - 1] for q in quantiles}


def headshot_seconds_quantiles(
    *, since: datetime, quantiles: Sequence[float] = (0.5,)
) -> dict[float, float | None]:
    """GPU seconds per image over the headshots created since `since`."""
    values = (
        Headshot.all_workspaces_unscoped.filter(
            created_at__gte=since, generation_seconds__isnull=False
        )
        .order_by("generation_seconds")
        .values_list("generation_seconds", flat=True)
    )
    return nearest_rank(values, quantiles)


def order_latency_quantiles(
    *, since: datetime, quantiles: Sequence[float] = (0.5, 0.95)
) -> dict[float, float | None]:
    """Seconds from placing to delivery of the orders that succeeded since `since`.

    Failed and canceled orders are left out: their end is not a delivery.
    """
    latency = ExpressionWrapper(F("finished_at") - F("created_at"), output_field=DurationField())
    values = (
        Order.all_workspaces_unscoped.filter(status=Order.Status.SUCCEEDED, finished_at__gte=since)
        .annotate(latency=latency)
        .order_by("latency")
        .values_list("latency", flat=True)
    )
    return {
        q: (value.total_seconds() if value is not None else None)
        for q, value in nearest_rank(values, quantiles).items()
    }


def orders_by_status() -> dict[str, int]:
    """How many orders are in each status (every status, zeros included)."""
    counts = dict.fromkeys(Order.Status.values, 0)
    rows = Order.all_workspaces_unscoped.order_by().values_list("status").annotate(n=Count("pk"))
    for status, n in rows:
        counts[status] = n
    return counts


def headshots_made_since(since: datetime) -> int:
    return Headshot.all_workspaces_unscoped.filter(created_at__gte=since).count()


def headshots_made_total() -> int:
    """Headshots ever delivered: the orders' own tallies, which stay when the images
    are purged after their retention (a count of Headshot rows would go down)."""
    return Order.all_workspaces_unscoped.aggregate(total=Sum("done"))["total"] or 0


def photo_purge_lag_seconds(*, now: datetime | None = None) -> float:
    """How far the oldest selfie is past its purge time; 0 when none is."""
    now = now or timezone.now()
    oldest = (
        SourcePhoto.all_workspaces_unscoped.filter(purge_at__lte=now)
        .order_by("purge_at")
        .values_list("purge_at", flat=True)
        .first()
    )
    return max((now - oldest).total_seconds(), 0.0) if oldest else 0.0


def workers_running() -> QuerySet[WorkerStatus]:
    """Workers that have not said they stopped (a crashed one stays here, going silent)."""
    return WorkerStatus.objects.filter(stopped_at__isnull=True)


def worker_is_silent(worker: WorkerStatus, *, now: datetime) -> bool:
    return worker.heartbeat_at < now - timedelta(seconds=settings.GPU_HEARTBEAT_TIMEOUT)


def last_purge_run() -> PurgeRun | None:
    return PurgeRun.objects.filter(finished_at__isnull=False).first()


@dataclass(frozen=True)
class WorkerHealth:
    queue_depths: dict[str, int | None]
    seconds_per_image_median: float | None
    headshots_last_hour: int
    running_orders: int
    last_purge_run: PurgeRun | None


def worker_health() -> WorkerHealth:
    """The summary at the head of the admin's worker-health page."""
    since = timezone.now() - THROUGHPUT_WINDOW
    return WorkerHealth(
        queue_depths=queue_depths(),
        seconds_per_image_median=headshot_seconds_quantiles(since=since)[0.5],
        headshots_last_hour=headshots_made_since(since),
        running_orders=Order.all_workspaces_unscoped.filter(status=Order.Status.RUNNING).count(),
        last_purge_run=last_purge_run(),
    )
