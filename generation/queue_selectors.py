"""Where a queued order stands: whether any GPU worker is running, the order's place in
the GPU queue, and when it should start.

Reads only, across tenants (the queue is shared by every workspace), but what they
return about other workspaces is counts, never their orders. Each answer costs a fixed
number of queries whatever the queue's length: the order page and API clients poll it
every couple of seconds.

The queue order is the GPU worker's: every paid order (`gpu-priority`) before any free
one (`gpu`), first placed first within a list (see generation.queue).
"""

import math
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from .models import Headshot, Order, WorkerStatus
from .queue import gpu_queue_names

# The pace comes from the GPU time of the most recent images: enough to smooth out one
# odd batch, few enough to follow a change of hardware or model set within minutes.
RECENT_IMAGES = 50


def generators_running(*, now: datetime | None = None) -> int:
    """GPU workers that sent a heartbeat recently and did not stop: the same silence
    (GPU_HEARTBEAT_TIMEOUT) after which their orders are taken over."""
    now = now or timezone.now()
    recent = now - timedelta(seconds=settings.GPU_HEARTBEAT_TIMEOUT)
    return WorkerStatus.objects.filter(stopped_at__isnull=True, heartbeat_at__gte=recent).count()


def recent_seconds_per_image() -> float | None:
    """The median GPU time of the latest images; None before the first one."""
    seconds = list(
        Headshot.all_workspaces_unscoped.filter(generation_seconds__isnull=False)
        .order_by("-pk")
        .values_list("generation_seconds", flat=True)[:RECENT_IMAGES]
    )
    return statistics.median(seconds) if seconds else None


@dataclass(frozen=True)
class QueueStanding:
    """A queued order's place, or a new order's if one were placed now."""

    generators: int
    position: int  # 1: the next order a worker takes
    images_before: int  # images still to make, running orders' included, before it starts
    seconds_per_image: float | None
    now: datetime

    @property
    def generator_running(self) -> bool:
        return self.generators > 0

    @property
    def orders_ahead(self) -> int:
        return self.position - 1

    @property
    def estimated_start(self) -> datetime | None:
        """Now plus the images before it at the recent pace, shared by the running
        workers; None with no worker running or before the first image was made."""
        if not self.generator_running or self.seconds_per_image is None:
            return None
        wait = self.images_before * self.seconds_per_image / self.generators
        return self.now + timedelta(seconds=wait)

    @property
    def start_in_words(self) -> str | None:
        start = self.estimated_start
        if start is None:
            return None
        minutes = math.ceil((start - self.now).total_seconds() / 60)
        if minutes <= 1:
            return "within a minute"
        if minutes < 90:
            return f"in about {minutes} minutes"
        return f"in about {round(minutes / 60)} hours"

    @property
    def message(self) -> str:
        if not self.generator_running:
            return (
                "No generator is running right now. Your order is saved and starts as "
                "soon as one is."
            )
        place = (
            "Next in the queue" if self.position == 1 else f"Number {self.position} in the queue"
        )
        when = self.start_in_words
        return f"{place}; expected to start {when}." if when else f"{place}."

    @property
    def new_order_message(self) -> str:
        """What the studio says about an order placed now (this standing's own)."""
        if not self.generator_running:
            return (
                "No generator is running right now: new orders wait in the queue and "
                "start as soon as one is."
            )
        if self.images_before == 0:
            return "A generator is free: a new order starts right away."
        if self.orders_ahead == 0:
            ahead = "The generators are busy"
        else:
            ahead = f"{self.orders_ahead} order{'s' if self.orders_ahead != 1 else ''} waiting"
        when = self.start_in_words
        return f"{ahead}; a new order would start {when}." if when else f"{ahead}."


def _standing(*, ahead: Q, now: datetime) -> QueueStanding:
    remaining = F("total") - F("done")
    running = Q(status=Order.Status.RUNNING)
    waiting = Q(status=Order.Status.QUEUED) & ahead
    counts = Order.all_workspaces_unscoped.filter(running | waiting).aggregate(
        orders_ahead=Count("pk", filter=waiting),
        images_ahead=Sum(remaining, filter=waiting),
        images_running=Sum(remaining, filter=running),
    )
    return QueueStanding(
        generators=generators_running(now=now),
        position=counts["orders_ahead"] + 1,
        images_before=(counts["images_ahead"] or 0) + (counts["images_running"] or 0),
        seconds_per_image=recent_seconds_per_image(),
        now=now,
    )


def _lists_before(queue_name: str) -> list[str]:
    names = gpu_queue_names()
    return names[: names.index(queue_name)] if queue_name in names else []


def order_queue_standing(*, order: Order) -> QueueStanding | None:
    """Where a queued order stands; None for one that is not waiting."""
    if order.status != Order.Status.QUEUED:
        return None
    earlier = Q(created_at__lt=order.created_at) | Q(created_at=order.created_at, pk__lt=order.pk)
    ahead = Q(queue_name__in=_lists_before(order.queue_name)) | (
        Q(queue_name=order.queue_name) & earlier
    )
    return _standing(ahead=ahead, now=timezone.now())


def new_order_queue_standing(*, queue_name: str) -> QueueStanding:
    """Where an order placed now on `queue_name` would stand (the studio says so)."""
    ahead = Q(queue_name__in=[*_lists_before(queue_name), queue_name])
    return _standing(ahead=ahead, now=timezone.now())


def queued_orders_standing(*, limit: int = 20) -> list[tuple[Order, QueueStanding]]:
    """The next `limit` orders in the queue, each with its standing: the staff view."""
    now = timezone.now()
    generators = generators_running(now=now)
    pace = recent_seconds_per_image()
    images_running = (
        Order.all_workspaces_unscoped.filter(status=Order.Status.RUNNING).aggregate(
            n=Sum(F("total") - F("done"))
        )["n"]
        or 0
    )
    queued = Order.all_workspaces_unscoped.filter(status=Order.Status.QUEUED).select_related(
        "workspace", "placed_by"
    )
    rows, before = [], images_running
    position = 0
    for name in gpu_queue_names():
        for order in queued.filter(queue_name=name).order_by("created_at", "pk")[
            : limit - position
        ]:
            position += 1
            standing = QueueStanding(
                generators=generators,
                position=position,
                images_before=before,
                seconds_per_image=pace,
                now=now,
            )
            rows.append((order, standing))
            before += order.total - order.done
    return rows
