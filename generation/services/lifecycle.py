"""The GPU worker's side of an order: claim, heartbeat, headshots, finish, hand back.

Safe against redelivery of the same order: each function re-reads the order under
select_for_update and does nothing to an order that is finished or claimed by another
live worker, and a headshot fills a unique (order, style, index) slot, so an order
never ends with more headshots than were ordered.
"""

import logging
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import models, transaction
from django.utils import timezone
from PIL import Image

from .. import images
from ..models import (
    ErrorCode,
    Headshot,
    Order,
    Style,
    WorkerStatus,
)
from .orders import (
    order_fail_worker_lost,
    order_finish,
    order_lock,
    order_lock_by_id,
    order_requeue,
    order_send_to_queue,
)

logger = logging.getLogger(__name__)


def order_mark_running(*, order_id: int, worker_id: str) -> Order | None:
    """Claim an order for a worker. None means: do nothing, acknowledge the message.

    None for an order that is missing, finished, or running on another worker whose
    heartbeat is fresh. An order whose worker went silent is taken over; one that has
    already been started settings.GPU_MAX_ATTEMPTS times is failed instead, so an
    order that crashes every worker does not circulate for ever.
    """
    now = timezone.now()
    with transaction.atomic():
        order = order_lock_by_id(order_id)
        if order is None or order.is_finished:
            return None
        if order.status == Order.Status.RUNNING and order.worker_id != worker_id:
            fresh_after = now - timedelta(seconds=settings.GPU_HEARTBEAT_TIMEOUT)
            if order.heartbeat_at and order.heartbeat_at > fresh_after:
                return None
        if order.status == Order.Status.QUEUED or order.worker_id != worker_id:
            if order.attempts >= settings.GPU_MAX_ATTEMPTS:
                order_fail_worker_lost(order)
                return None
            order.attempts += 1
        order.status = Order.Status.RUNNING
        order.worker_id = worker_id
        order.heartbeat_at = now
        order.started_at = order.started_at or now
        order.save(update_fields=["status", "worker_id", "heartbeat_at", "started_at", "attempts"])
    return order


def _touch(order: Order, worker_id: str, **fields) -> bool:
    return bool(
        Order.all_workspaces_unscoped.filter(
            pk=order.pk, status=Order.Status.RUNNING, worker_id=worker_id
        ).update(heartbeat_at=timezone.now(), **fields)
    )


def order_heartbeat(*, order: Order, worker_id: str) -> bool:
    """Keep the worker's claim alive. False: the order is no longer this worker's; stop."""
    return _touch(order, worker_id)


def order_record_progress(*, order: Order, worker_id: str, stage: str) -> bool:
    """Show the customer what is happening ("Finding your face"); also a heartbeat.

    The count of finished headshots is kept by headshot_create. False: stop working.
    """
    return _touch(order, worker_id, stage=stage[:120])


def headshot_create(
    *,
    order: Order,
    style: Style,
    index: int,
    seed: int,
    image: bytes | Image.Image,
    likeness: float | None,
    generation_seconds: float | None = None,
) -> Headshot:
    """Store one finished headshot in slot (style, index) of a running order.

    `image` is encoded bytes (JPEG, PNG or WebP, stored as they are) or a PIL image
    (stored as JPEG); width and height are read from it. Idempotent: a slot already
    filled returns the headshot already there and stores nothing. Raises
    ValidationError(code="order_not_running") once the order is finished (the worker
    should stop) and ValueError for a slot that is not part of the order.
    """
    encoded = images.encode_headshot(image)
    stored: list[str] = []
    try:
        with transaction.atomic():
            order = order_lock(order)
            if order.status != Order.Status.RUNNING:
                raise ValidationError(
                    f"Order {order.pk} is {order.status}, not running.", code="order_not_running"
                )
            if not 0 <= index < order.per_style or not order.styles.filter(pk=style.pk).exists():
                raise ValueError(f"Slot ({style.slug}, {index}) is not part of order {order.pk}.")
            headshots = Headshot.objects.for_workspace(order.workspace)
            existing = headshots.filter(order=order, style=style, index=index).first()
            if existing is not None:
                return existing
            base = f"headshots/{order.workspace_id}/{order.pk}/{style.slug}-{index}-{uuid.uuid4().hex[:12]}"
            stored.append(
                default_storage.save(f"{base}.{encoded.extension}", ContentFile(encoded.data))
            )
            stored.append(default_storage.save(f"{base}-thumb.jpg", ContentFile(encoded.thumbnail)))
            headshot = headshots.create(
                workspace=order.workspace,
                order=order,
                style=style,
                index=index,
                seed=seed,
                width=encoded.width,
                height=encoded.height,
                file=stored[0],
                thumbnail=stored[1],
                content_type=encoded.content_type,
                likeness=likeness,
                generation_seconds=generation_seconds,
            )
            order.done = order.headshots.count()
            order.heartbeat_at = timezone.now()
            order.save(update_fields=["done", "heartbeat_at"])
            if order.redo_of_id is not None:
                replaced = headshots.select_for_update().filter(pk=order.redo_of_id).first()
                # Gone when it was purged or deleted meanwhile: the new one stays in its own
                # order only.
                if replaced is not None:
                    headshot_replace(headshot=replaced, replacement=headshot)
    except BaseException:
        for name in stored:
            default_storage.delete(name)
        raise
    return headshot


def headshot_replace(*, headshot: Headshot, replacement: Headshot) -> Headshot:
    """Put a redo's headshot in the place of the one it redid, in the gallery and the zip
    of the order that showed that one (for a redo of a redo, still the first order's).
    The replaced headshot is kept: the gallery offers it as the previous version, and
    its own order's record (the API) says what replaced it. A headshot chosen for the
    team's page hands the choice on: the team zip holds what the gallery shows."""
    replacement.chosen_at, headshot.chosen_at = headshot.chosen_at, None
    headshot.replaced_by = replacement
    headshot.save(update_fields=["replaced_by", "chosen_at"])
    replacement.shown_in_id = headshot.shown_in_id or headshot.order_id
    replacement.save(update_fields=["shown_in", "chosen_at"])
    logger.info(
        "Headshot %s replaced by headshot %s of redo order %s",
        headshot.pk,
        replacement.pk,
        replacement.order_id,
        extra={"order_id": replacement.order_id, "headshot_id": headshot.pk},
    )
    return headshot


def order_mark_succeeded(*, order: Order) -> Order:
    """Finish a running order and email whoever placed it.

    A shortfall (fewer headshots than ordered) is refunded; an order with none at all
    is failed instead. Does nothing to an order that is not running (redelivery).
    """
    with transaction.atomic():
        order = order_lock(order)
        if order.status != Order.Status.RUNNING:
            return order
        if not order.headshots.exists():
            order_finish(
                order,
                status=Order.Status.FAILED,
                code=ErrorCode.GENERATION_FAILED,
                message="The generator finished without producing a headshot.",
            )
        else:
            order_finish(order, status=Order.Status.SUCCEEDED)
    return order


def order_mark_failed(*, order: Order, code: str, message: str) -> Order:
    """Fail a queued or running order, refund what it did not deliver, email the customer.

    `code` is one of ErrorCode (the portal shows what to do about it); `message` says
    what happened, in words for the customer.
    """
    with transaction.atomic():
        order = order_lock(order)
        if order.is_finished:
            return order
        order_finish(order, status=Order.Status.FAILED, code=code[:60], message=message)
    return order


def order_release(
    *, order: Order, worker_id: str | None = None, counts_as_attempt: bool = False
) -> Order:
    """Hand a running order back to the queue (the worker is shutting down).

    A graceful release does not count as an attempt; a worker whose device broke
    under the order counts it (``counts_as_attempt``), so that an order that breaks
    every device it meets ends failed after settings.GPU_MAX_ATTEMPTS instead of
    circulating for ever. With worker_id, only that worker's claim is released.
    """
    with transaction.atomic():
        order = order_lock(order)
        if order.status != Order.Status.RUNNING:
            return order
        if worker_id is not None and order.worker_id != worker_id:
            return order
        if not counts_as_attempt:
            order.attempts = max(order.attempts - 1, 0)
        order_requeue(order)
    return order


def orders_release_for_worker(*, worker_id: str) -> int:
    """Hand back every order a worker holds: it restarted, so it holds none any more.

    A worker's id is stable across restarts (host and device), so whatever is still
    running under it was left behind by a crash and need not wait for the staleness
    timeout. Counts as an attempt, like any crash.
    """
    released = 0
    held = Order.all_workspaces_unscoped.filter(status=Order.Status.RUNNING, worker_id=worker_id)
    for order_id in held.values_list("pk", flat=True):
        with transaction.atomic():
            order = order_lock_by_id(order_id)
            if (
                order is None
                or order.status != Order.Status.RUNNING
                or order.worker_id != worker_id
            ):
                continue
            order_requeue(order)
            released += 1
    return released


def orders_recover_stale(*, older_than: timedelta) -> int:
    """Requeue running orders whose worker has been silent for `older_than`, and send
    again queued orders whose message may be gone. Returns how many.

    A queued order is sent again when its enqueue never went through, or when it has
    waited settings.GPU_QUEUE_RESEND_AFTER since its message was sent: a broker that
    keeps nothing on disk (Redis without persistence) loses its lists when it restarts.
    A second message for an order is harmless, since the worker does nothing for an
    order that is finished or running. An order already started
    settings.GPU_MAX_ATTEMPTS times is failed (and refunded) instead of requeued.
    """
    now = timezone.now()
    cutoff = now - older_than
    stale = Order.all_workspaces_unscoped.filter(status=Order.Status.RUNNING).exclude(
        heartbeat_at__gte=cutoff
    )
    resend_before = now - timedelta(seconds=settings.GPU_QUEUE_RESEND_AFTER)
    unsent = Order.all_workspaces_unscoped.filter(status=Order.Status.QUEUED).filter(
        models.Q(enqueued_at=None, created_at__lt=cutoff) | models.Q(enqueued_at__lt=resend_before)
    )
    recovered = 0
    for order_id in stale.values_list("pk", flat=True):
        with transaction.atomic():
            order = order_lock_by_id(order_id)
            if (
                order is None
                or order.status != Order.Status.RUNNING
                or (order.heartbeat_at and order.heartbeat_at >= cutoff)
            ):
                continue
            if order.attempts >= settings.GPU_MAX_ATTEMPTS:
                order_fail_worker_lost(order)
            else:
                order_requeue(order)
            recovered += 1
    for order_id, queue_name in unsent.values_list("pk", "queue_name"):
        order_send_to_queue(order_id, queue_name)
        recovered += 1
    return recovered


def worker_heartbeat(
    *,
    worker_id: str,
    hostname: str,
    pid: int,
    device: str,
    model_set: str,
    started_at: datetime,
    current_order_id: int | None,
) -> None:
    """Record that a GPU worker is alive, and what it is working on."""
    WorkerStatus.objects.update_or_create(
        worker_id=worker_id,
        defaults={
            "hostname": hostname,
            "pid": pid,
            "device": device,
            "model_set": model_set,
            "started_at": started_at,
            "heartbeat_at": timezone.now(),
            "current_order_id": current_order_id,
            "stopped_at": None,
        },
    )


def worker_stopped(*, worker_id: str) -> None:
    WorkerStatus.objects.filter(worker_id=worker_id).update(
        stopped_at=timezone.now(), current_order=None
    )
