"""The one write path for generation: selfies, orders, quota, headshots and the purge.

The portal, the API, the GPU worker and the scheduler all call these. The functions
the worker calls are safe against redelivery of the same order: each re-reads the
order under select_for_update and does nothing to an order that is finished or
claimed by another live worker, and a headshot fills a unique (order, style, index)
slot, so an order never ends with more headshots than were ordered.
"""

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.core.mail import send_mail
from django.db import models, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from accounts.models import Membership, Role, User, Workspace
from billing.plans import Tier, entitlements
from headshot_site.api_errors import PaymentRequired

from . import crypto, images
from .models import (
    ErrorCode,
    Headshot,
    Order,
    PurgeRun,
    QuotaUsage,
    SourcePhoto,
    Style,
    WorkerStatus,
    WorkspaceAllowedStyle,
)
from .queue import enqueue_order, gpu_queue_for
from .selectors import (
    next_quota_period,
    quota_period,
    workspace_allowed_style_ids,
    workspace_can_choose_styles,
)

__all__ = [
    "ErrorCode",
    "PhotoUnavailable",
    "PurgeResult",
    "headshot_create",
    "headshots_purge_expired",
    "order_cancel",
    "order_create",
    "order_heartbeat",
    "order_mark_failed",
    "order_mark_running",
    "order_mark_succeeded",
    "order_record_progress",
    "order_refund_quota",
    "order_release",
    "order_retry",
    "orders_recover_stale",
    "orders_release_for_worker",
    "photo_delete",
    "photo_read_face_data",
    "photo_read_image",
    "photo_store_face_data",
    "photo_upload",
    "photos_purge_expired",
    "purge_run",
    "worker_heartbeat",
    "worker_stopped",
    "workspace_styles_set",
]

logger = logging.getLogger(__name__)

PHOTO_LIFETIME = timedelta(hours=24)
MAX_PER_STYLE = 10
PHOTO_PURPOSE = "photo"
FACE_DATA_PURPOSE = "face_data"


class PhotoUnavailable(Exception):
    """The selfie's stored object is gone or cannot be decrypted; the order cannot run."""


# --- Selfies ------------------------------------------------------------------------


def photo_upload(*, workspace: Workspace, user: User, upload: UploadedFile) -> SourcePhoto:
    """Check, clean and encrypt a selfie, and keep it for 24 hours.

    Raises ValidationError (code names the problem) for anything but a usable photo.
    """
    # Refused before reading: a huge upload never reaches memory.
    if upload.size is not None and upload.size > images.MAX_UPLOAD_BYTES:
        raise ValidationError(
            f"This file is {upload.size / 1024 / 1024:.1f} MB; the limit is "
            f"{images.MAX_UPLOAD_BYTES // 1024 // 1024} MB. Export a smaller copy and try again.",
            code="file_too_large",
        )
    upload.seek(0)
    clean = images.clean_selfie(upload.read(images.MAX_UPLOAD_BYTES + 1))
    blob = crypto.encrypt(clean.jpeg, purpose=PHOTO_PURPOSE)
    name = default_storage.save(f"photos/{workspace.pk}/{uuid.uuid4().hex}.enc", ContentFile(blob))
    now = timezone.now()
    try:
        return SourcePhoto.objects.for_workspace(workspace).create(
            workspace=workspace,
            uploaded_by=user,
            storage_name=name,
            width=clean.width,
            height=clean.height,
            size_bytes=len(clean.jpeg),
            created_at=now,
            purge_at=now + PHOTO_LIFETIME,
        )
    except BaseException:
        default_storage.delete(name)
        raise


def photo_read_image(*, photo: SourcePhoto) -> bytes:
    """The cleaned selfie as JPEG bytes (decrypted). Raises PhotoUnavailable."""
    try:
        with default_storage.open(photo.storage_name, "rb") as stored:
            blob = stored.read()
    except FileNotFoundError:
        raise PhotoUnavailable(f"Photo {photo.pk} has no stored object.") from None
    try:
        return crypto.decrypt(blob, purpose=PHOTO_PURPOSE)
    except crypto.DecryptionError as error:
        raise PhotoUnavailable(f"Photo {photo.pk} cannot be decrypted: {error}") from None


def photo_store_face_data(*, photo: SourcePhoto, face_data: bytes) -> bool:
    """Keep the worker's face analysis, encrypted; purged with the photo.

    Returns False when the photo was deleted meanwhile: nothing is written then, so
    face data never outlives its photo.
    """
    blob = crypto.encrypt(face_data, purpose=FACE_DATA_PURPOSE)
    stored = (
        SourcePhoto.objects.for_workspace(photo.workspace)
        .filter(pk=photo.pk)
        .update(face_data=blob)
    )
    if stored:
        photo.face_data = blob
    return bool(stored)


def photo_read_face_data(*, photo: SourcePhoto) -> bytes | None:
    current = SourcePhoto.objects.for_workspace(photo.workspace).filter(pk=photo.pk)
    blob = current.values_list("face_data", flat=True).first()
    if blob is None:
        return None
    try:
        return crypto.decrypt(bytes(blob), purpose=FACE_DATA_PURPOSE)
    except crypto.DecryptionError as error:
        raise PhotoUnavailable(
            f"Face data of photo {photo.pk} cannot be decrypted: {error}"
        ) from None


def _photo_purge(*, photo_id: int) -> bool:
    """Delete a photo's stored object, face data and row. False if storage refused.

    On a storage failure the row stays (with why), so the next purge run tries again
    and nothing is recorded as deleted that was not.
    """
    with transaction.atomic():
        photo = SourcePhoto.all_workspaces_unscoped.select_for_update().filter(pk=photo_id).first()
        if photo is None:
            return True
        try:
            default_storage.delete(photo.storage_name)
        # Any backend error (OS, S3, network) means the same thing here: try next run.
        except Exception as error:
            # Face data lives only in our database, so it goes now regardless.
            photo.face_data = None
            photo.purge_attempts += 1
            photo.last_purge_error = f"{type(error).__name__}: {error}"[:2000]
            photo.purge_at = min(photo.purge_at, timezone.now())
            photo.save(
                update_fields=["face_data", "purge_attempts", "last_purge_error", "purge_at"]
            )
            logger.warning(
                "Photo %s: storage delete failed, kept for the next run: %s", photo.pk, error
            )
            return False
        photo.delete()
    return True


def photo_delete(*, photo: SourcePhoto) -> bool:
    """Delete a selfie now, at its owner's request.

    Returns False when the stored object could not be deleted yet: the photo is then
    hidden from its owner and the hourly purge finishes the job.
    """
    return _photo_purge(photo_id=photo.pk)


# --- Quota --------------------------------------------------------------------------


def _usage_locked(*, workspace: Workspace, period) -> QuotaUsage:
    """The workspace's usage row for `period`, created if missing, locked until commit."""
    usages = QuotaUsage.objects.for_workspace(workspace)
    usages.bulk_create([QuotaUsage(workspace=workspace, period=period)], ignore_conflicts=True)
    return usages.select_for_update().get(period=period)


def _reserve_quota(*, workspace: Workspace, period, count: int, quota: int, plan: str) -> None:
    """Take `count` units of this month's quota, or raise PaymentRequired.

    Must run inside a transaction: the usage row stays locked until it commits, so two
    orders for the last unit are serialised and only one gets it.
    """
    usage = _usage_locked(workspace=workspace, period=period)
    left = max(quota - usage.used, 0)
    if count > left:
        resets = next_quota_period(period)
        raise PaymentRequired(
            f"This order needs {count} headshot{'s' if count != 1 else ''} but your workspace has "
            f"{left} left this month ({quota} a month on the {plan.title()} plan). Order fewer, "
            f"wait until {resets:%B} {resets.day}, or upgrade your plan for more.",
            code="quota_exceeded",
        )
    usage.used += count
    usage.save(update_fields=["used"])


def _refund_undelivered(order: Order) -> None:
    """Give back the quota of what the (locked) order did not deliver; idempotent."""
    amount = order.undelivered
    if amount <= 0:
        return
    usage = (
        QuotaUsage.objects.for_workspace(order.workspace)
        .select_for_update()
        .filter(period=order.quota_period)
        .first()
    )
    if usage is not None:
        usage.used = max(usage.used - amount, 0)
        usage.save(update_fields=["used"])
    order.quota_refunded += amount


# --- Orders -------------------------------------------------------------------------


def _style_slugs(style_slugs: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(slug.strip() for slug in style_slugs if slug and slug.strip()))


def _clean_styles(style_slugs: Sequence[str]) -> list[Style]:
    slugs = _style_slugs(style_slugs)
    if not slugs:
        raise ValidationError("Pick at least one style.", code="styles_required")
    return _styles_by_slug(slugs)


def _styles_by_slug(slugs: list[str]) -> list[Style]:
    """The active styles named by `slugs`, in that order; unknown ones raise `unknown_style`."""
    found = {style.slug: style for style in Style.objects.filter(slug__in=slugs, is_active=True)}
    unknown = [slug for slug in slugs if slug not in found]
    if unknown:
        raise ValidationError(
            f"No such style: {', '.join(unknown)}. See the style catalog for the ones on offer.",
            code="unknown_style",
        )
    return [found[slug] for slug in slugs]


def workspace_styles_set(
    *, workspace: Workspace, user: User, style_slugs: Sequence[str]
) -> list[Style]:
    """Replace the styles a Team workspace's members may order; returns them in catalog order.

    An empty list lifts the restriction (every style the plan allows). Raises
    PermissionDenied unless `user` is an owner or admin of `workspace`, and
    ValidationError for a workspace that is not a Team workspace on the Team plan
    (`team_plan_required`) or an unknown style (`unknown_style`).
    """
    # Checked here, not only in the views: this is the one write path, so it fails
    # closed for any caller.
    membership = Membership.objects.filter(workspace=workspace, user=user).first()
    if membership is None or not membership.has_role(Role.ADMIN):
        raise PermissionDenied("Only the workspace's owners and admins can choose its styles.")
    slugs = _style_slugs(style_slugs)
    # Lifting a restriction stays possible after a downgrade, so a former Team workspace
    # is never stuck with a set it can no longer edit.
    lifting = not slugs and workspace.kind == Workspace.Kind.TEAM
    if not lifting and not workspace_can_choose_styles(workspace=workspace):
        raise ValidationError(
            "Choosing the styles members may order is part of the Team plan, for team workspaces.",
            code="team_plan_required",
        )
    styles = _styles_by_slug(slugs) if slugs else []
    with transaction.atomic():
        allowed = WorkspaceAllowedStyle.objects.for_workspace(workspace)
        allowed.delete()
        allowed.bulk_create(
            [WorkspaceAllowedStyle(workspace=workspace, style=style) for style in styles]
        )
    logger.info(
        "Workspace %s styles set by user %s: %s",
        workspace.pk,
        user.pk,
        ", ".join(style.slug for style in styles) or "unrestricted",
        extra={"workspace_id": workspace.pk},
    )
    return sorted(styles, key=lambda style: (style.position, style.name))


def _enqueue(order_id: int, queue_name: str) -> None:
    # Runs after commit. A broker failure must not undo a placed order: the order
    # stays queued with no enqueued_at, and orders_recover_stale sends it again.
    try:
        enqueue_order(order_id=order_id, queue_name=queue_name)
    except Exception:
        logger.exception(
            "Order %s: enqueue to %s failed; recovery will retry",
            order_id,
            queue_name,
            extra={"order_id": order_id, "queue": queue_name},
        )
        return
    # Whatever the status: a fast worker may already have started the order.
    Order.all_workspaces_unscoped.filter(pk=order_id).update(enqueued_at=timezone.now())


def order_create(
    *,
    workspace: Workspace,
    user: User,
    photo: SourcePhoto,
    style_slugs: Sequence[str],
    per_style: int,
) -> Order:
    """Place an order: reserve quota, record it, and queue it for the GPU after commit.

    Raises ValidationError for bad input or a style the workspace's admins did not allow
    (`style_not_allowed`), and PaymentRequired (402) for a style above the plan's tier
    (`upgrade_required`) or an order over quota (`quota_exceeded`).
    """
    if not isinstance(per_style, int) or not 1 <= per_style <= MAX_PER_STYLE:
        raise ValidationError(
            f"Order between 1 and {MAX_PER_STYLE} headshots per style.", code="invalid_per_style"
        )
    styles = _clean_styles(style_slugs)
    if photo.workspace_id != workspace.pk or photo.uploaded_by_id != user.pk:
        raise ValidationError("No such photo. Upload a selfie first.", code="photo_not_found")
    if photo.purge_at <= timezone.now():
        raise ValidationError(
            "This photo was deleted after 24 hours, as promised. Upload it again to order.",
            code="photo_expired",
        )
    # Before the plan check: when an admin has ruled a style out, upgrading would not help.
    allowed_ids = workspace_allowed_style_ids(workspace=workspace)
    refused = [] if allowed_ids is None else [s for s in styles if s.pk not in allowed_ids]
    if refused:
        names = ", ".join(f"“{style.name}”" for style in refused)
        raise ValidationError(
            f"{names} {'is' if len(refused) == 1 else 'are'} not among the styles an admin of "
            f"{workspace.name} chose for this workspace. Pick one of the allowed styles, or ask "
            "a workspace admin to allow it.",
            code="style_not_allowed",
        )
    rights = entitlements(workspace)
    locked = [style for style in styles if not rights.allows_style_tier(style.tier)]
    if locked:
        names = ", ".join(f"“{style.name}”" for style in locked)
        needs = "Premium" if any(style.tier == Tier.PREMIUM for style in locked) else "a higher"
        raise PaymentRequired(
            f"{names} need{'s' if len(locked) == 1 else ''} the {needs} plan; this workspace is on "
            f"{rights.plan.title()}. Upgrade to use {'it' if len(locked) == 1 else 'them'}, "
            "or pick styles marked Free.",
            code="upgrade_required",
        )
    total = len(styles) * per_style
    period = quota_period()
    queue_name = gpu_queue_for(rights.queue_priority)
    with transaction.atomic():
        _reserve_quota(
            workspace=workspace,
            period=period,
            count=total,
            quota=rights.monthly_quota,
            plan=rights.plan,
        )
        order = Order.objects.for_workspace(workspace).create(
            workspace=workspace,
            placed_by=user,
            photo=photo,
            per_style=per_style,
            total=total,
            resolution=rights.resolution,
            queue_name=queue_name,
            quota_period=period,
        )
        order.styles.set(styles)
        transaction.on_commit(lambda: _enqueue(order.pk, queue_name))
    logger.info(
        "Order %s placed: %s headshots on %s",
        order.pk,
        total,
        queue_name,
        extra={"order_id": order.pk, "workspace_id": workspace.pk, "queue": queue_name},
    )
    return order


def _locked(order_id: int) -> Order | None:
    # of=("self",): lock the order row only, never its workspace or photo.
    return (
        Order.all_workspaces_unscoped.select_for_update(of=("self",))
        .select_related("workspace", "photo")
        .filter(pk=order_id)
        .first()
    )


def _lock(order: Order) -> Order:
    locked = _locked(order.pk)
    if locked is None:
        raise Order.DoesNotExist(f"Order {order.pk} no longer exists.")
    return locked


def _finish(order: Order, *, status: str, code: str = "", message: str = "") -> None:
    """Move a locked order to a finished status, refund what it did not deliver, save."""
    now = timezone.now()
    order.done = order.headshots.count()
    order.status = status
    order.error_code = code
    order.error_message = message
    order.stage = ""
    order.finished_at = now
    _refund_undelivered(order)
    order.save()
    if status != Order.Status.CANCELED:
        order_id = order.pk
        transaction.on_commit(lambda: _send_finished_email(order_id))


def order_cancel(*, order: Order) -> Order:
    """Cancel an order that has not started; its whole reservation is given back."""
    with transaction.atomic():
        order = _lock(order)
        if order.status == Order.Status.CANCELED:
            return order
        if order.status != Order.Status.QUEUED:
            raise ValidationError(
                f"This order is {order.get_status_display().lower()}; only queued orders can be "
                "canceled.",
                code="not_cancelable",
            )
        _finish(order, status=Order.Status.CANCELED)
    logger.info("Order %s canceled", order.pk, extra={"order_id": order.pk})
    return order


def order_retry(*, order: Order) -> Order:
    """Send a failed order back to the GPU queue for the headshots it did not deliver.

    Staff decide this, so the quota given back when it failed is taken again without
    the monthly limit check (the usage row records it, and may go over the quota).
    Starts are counted afresh, and the message goes out once, after commit. Raises
    ValidationError for an order that is not failed (`not_retryable`) or whose selfie
    has been deleted (`photo_expired`): the worker could only fail it again.
    """
    with transaction.atomic():
        order = _lock(order)
        if order.status != Order.Status.FAILED:
            raise ValidationError(
                f"Order {order.pk} is {order.get_status_display().lower()}; only failed orders "
                "can be retried.",
                code="not_retryable",
            )
        if order.photo is None or order.photo.purge_at <= timezone.now():
            raise ValidationError(
                f"The selfie of order {order.pk} has been deleted, so it cannot be generated "
                "again; the customer has to upload it again and place a new order.",
                code="photo_expired",
            )
        reserved = order.quota_refunded
        if reserved:
            usage = _usage_locked(workspace=order.workspace, period=order.quota_period)
            usage.used += reserved
            usage.save(update_fields=["used"])
        order.quota_refunded = 0
        order.error_code = ""
        order.error_message = ""
        order.finished_at = None
        order.started_at = None
        order.attempts = 0
        _requeue(order)
    logger.info(
        "Order %s retried by staff: %s headshots re-reserved for %s",
        order.pk,
        reserved,
        f"{order.quota_period:%Y-%m}",
        extra={"order_id": order.pk, "reserved": reserved, "queue": order.queue_name},
    )
    return order


def order_refund_quota(*, order: Order, count: int) -> Order:
    """Give `count` delivered headshots of an order back to its workspace's quota.

    A goodwill credit from staff (the undelivered part is given back automatically
    when an order fails or is canceled). It lowers this month's usage, where the
    customer can use it; an order's delivered headshots can be credited once in all.
    Raises ValidationError when `count` is not a positive whole number
    (`invalid_count`), exceeds the delivered headshots not yet credited
    (`credit_too_large`) or this month's usage (`credit_exceeds_usage`).
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValidationError("Give back at least one headshot.", code="invalid_count")
    with transaction.atomic():
        order = _lock(order)
        creditable = order.done - order.quota_credited
        if count > creditable:
            raise ValidationError(
                f"Order {order.pk} has {creditable} delivered headshot"
                f"{'s' if creditable != 1 else ''} not yet given back; {count} is too many.",
                code="credit_too_large",
            )
        period = quota_period()
        usage = _usage_locked(workspace=order.workspace, period=period)
        if count > usage.used:
            raise ValidationError(
                f"The workspace of order {order.pk} has used {usage.used} headshot"
                f"{'s' if usage.used != 1 else ''} in {period:%B %Y}; a credit cannot be larger.",
                code="credit_exceeds_usage",
            )
        usage.used -= count
        usage.save(update_fields=["used"])
        order.quota_credited += count
        order.save(update_fields=["quota_credited"])
    logger.info(
        "Order %s: %s delivered headshots given back to the quota by staff",
        order.pk,
        count,
        extra={"order_id": order.pk, "credited": count, "period": f"{period:%Y-%m}"},
    )
    return order


def _fail_worker_lost(order: Order) -> None:
    _finish(
        order,
        status=Order.Status.FAILED,
        code=ErrorCode.WORKER_LOST,
        message=f"Generation stopped {order.attempts} times before finishing.",
    )


def order_mark_running(*, order_id: int, worker_id: str) -> Order | None:
    """Claim an order for a worker. None means: do nothing, acknowledge the message.

    None for an order that is missing, finished, or running on another worker whose
    heartbeat is fresh. An order whose worker went silent is taken over; one that has
    already been started settings.GPU_MAX_ATTEMPTS times is failed instead, so an
    order that crashes every worker does not circulate for ever.
    """
    now = timezone.now()
    with transaction.atomic():
        order = _locked(order_id)
        if order is None or order.is_finished:
            return None
        if order.status == Order.Status.RUNNING and order.worker_id != worker_id:
            fresh_after = now - timedelta(seconds=settings.GPU_HEARTBEAT_TIMEOUT)
            if order.heartbeat_at and order.heartbeat_at > fresh_after:
                return None
        if order.status == Order.Status.QUEUED or order.worker_id != worker_id:
            if order.attempts >= settings.GPU_MAX_ATTEMPTS:
                _fail_worker_lost(order)
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
            order = _lock(order)
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
    except BaseException:
        for name in stored:
            default_storage.delete(name)
        raise
    return headshot


def order_mark_succeeded(*, order: Order) -> Order:
    """Finish a running order and email whoever placed it.

    A shortfall (fewer headshots than ordered) is refunded; an order with none at all
    is failed instead. Does nothing to an order that is not running (redelivery).
    """
    with transaction.atomic():
        order = _lock(order)
        if order.status != Order.Status.RUNNING:
            return order
        if not order.headshots.exists():
            _finish(
                order,
                status=Order.Status.FAILED,
                code=ErrorCode.GENERATION_FAILED,
                message="The generator finished without producing a headshot.",
            )
        else:
            _finish(order, status=Order.Status.SUCCEEDED)
    return order


def order_mark_failed(*, order: Order, code: str, message: str) -> Order:
    """Fail a queued or running order, refund what it did not deliver, email the customer.

    `code` is one of ErrorCode (the portal shows what to do about it); `message` says
    what happened, in words for the customer.
    """
    with transaction.atomic():
        order = _lock(order)
        if order.is_finished:
            return order
        _finish(order, status=Order.Status.FAILED, code=code[:60], message=message)
    return order


def _requeue(order: Order) -> None:
    order.status = Order.Status.QUEUED
    order.worker_id = ""
    order.heartbeat_at = None
    order.stage = ""
    order.enqueued_at = None
    order.save()
    order_id, queue_name = order.pk, order.queue_name
    transaction.on_commit(lambda: _enqueue(order_id, queue_name))


def order_release(*, order: Order, worker_id: str | None = None) -> Order:
    """Hand a running order back to the queue (the worker is shutting down).

    A graceful release does not count as an attempt. With worker_id, only that
    worker's claim is released.
    """
    with transaction.atomic():
        order = _lock(order)
        if order.status != Order.Status.RUNNING:
            return order
        if worker_id is not None and order.worker_id != worker_id:
            return order
        order.attempts = max(order.attempts - 1, 0)
        _requeue(order)
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
            order = _locked(order_id)
            if (
                order is None
                or order.status != Order.Status.RUNNING
                or order.worker_id != worker_id
            ):
                continue
            _requeue(order)
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
            order = _locked(order_id)
            if (
                order is None
                or order.status != Order.Status.RUNNING
                or (order.heartbeat_at and order.heartbeat_at >= cutoff)
            ):
                continue
            if order.attempts >= settings.GPU_MAX_ATTEMPTS:
                _fail_worker_lost(order)
            else:
                _requeue(order)
            recovered += 1
    for order_id, queue_name in unsent.values_list("pk", "queue_name"):
        _enqueue(order_id, queue_name)
        recovered += 1
    return recovered


def _send_finished_email(order_id: int) -> None:
    order = (
        Order.all_workspaces_unscoped.select_related("workspace", "placed_by")
        .filter(pk=order_id)
        .first()
    )
    if order is None or order.placed_by is None:
        return
    path = reverse(
        "order_detail", kwargs={"workspace_slug": order.workspace.slug, "order_id": order.pk}
    )
    context = {"order": order, "url": f"{settings.SITE_URL}{path}", "site_name": settings.SITE_NAME}
    if order.status == Order.Status.SUCCEEDED:
        subject = f"[{settings.SITE_NAME}] Your headshots are ready"
    else:
        subject = f"[{settings.SITE_NAME}] Your headshot order could not be finished"
    try:
        send_mail(
            subject=subject,
            message=render_to_string("generation/email/order_finished.txt", context),
            from_email=None,
            recipient_list=[order.placed_by.email],
        )
    # The order is already finished and committed; a mail outage must not undo that.
    except Exception:
        logger.exception(
            "Order %s: finished email could not be sent", order_id, extra={"order_id": order_id}
        )


# --- Purge --------------------------------------------------------------------------


@dataclass
class PurgeResult:
    matched: int = 0
    deleted: int = 0
    failed: int = 0
    failed_ids: list[int] = field(default_factory=list)


def _headshot_purge(*, headshot_id: int) -> bool:
    with transaction.atomic():
        headshot = (
            Headshot.all_workspaces_unscoped.select_for_update().filter(pk=headshot_id).first()
        )
        if headshot is None:
            return True
        try:
            for name in (headshot.file.name, headshot.thumbnail.name):
                if name:
                    default_storage.delete(name)
        except Exception as error:
            headshot.purge_attempts += 1
            headshot.last_purge_error = f"{type(error).__name__}: {error}"[:2000]
            headshot.save(update_fields=["purge_attempts", "last_purge_error"])
            logger.warning(
                "Headshot %s: storage delete failed, kept for the next run: %s", headshot.pk, error
            )
            return False
        headshot.delete()
    return True


def _purge_in_batches(queryset, purge_one, *, batch_size: int, dry_run: bool) -> PurgeResult:
    result = PurgeResult()
    last_pk = 0
    while True:
        batch = list(
            queryset.filter(pk__gt=last_pk).order_by("pk").values_list("pk", flat=True)[:batch_size]
        )
        if not batch:
            return result
        last_pk = batch[-1]
        result.matched += len(batch)
        if dry_run:
            continue
        for pk in batch:
            if purge_one(pk):
                result.deleted += 1
            else:
                result.failed += 1
                result.failed_ids.append(pk)


def photos_purge_expired(
    *, now: datetime | None = None, batch_size: int = 200, dry_run: bool = False
) -> PurgeResult:
    """Delete every selfie past its purge time: stored object, face data and row."""
    expired = SourcePhoto.all_workspaces_unscoped.filter(purge_at__lte=now or timezone.now())
    return _purge_in_batches(
        expired, lambda pk: _photo_purge(photo_id=pk), batch_size=batch_size, dry_run=dry_run
    )


def headshots_purge_expired(
    *, now: datetime | None = None, batch_size: int = 200, dry_run: bool = False
) -> PurgeResult:
    """Delete headshots kept longer than their workspace's plan allows
    (entitlements(workspace).retention_days, counted from the order's completion)."""
    now = now or timezone.now()
    total = PurgeResult()
    workspace_ids = (
        Headshot.all_workspaces_unscoped.filter(order__finished_at__isnull=False)
        .order_by()
        .values_list("workspace_id", flat=True)
        .distinct()
    )
    for workspace in Workspace.objects.filter(pk__in=list(workspace_ids)).iterator():
        cutoff = now - timedelta(days=entitlements(workspace).retention_days)
        expired = Headshot.objects.for_workspace(workspace).filter(order__finished_at__lt=cutoff)
        result = _purge_in_batches(
            expired,
            lambda pk: _headshot_purge(headshot_id=pk),
            batch_size=batch_size,
            dry_run=dry_run,
        )
        total.matched += result.matched
        total.deleted += result.deleted
        total.failed += result.failed
        total.failed_ids.extend(result.failed_ids)
    return total


# A run with a storage outage can fail on thousands of rows; the log keeps the first
# few of each kind (the rows themselves keep their own last error).
PURGE_FAILURES_KEPT = 50


def _purge_failures(model, kind: str, ids: list[int]) -> list[dict]:
    kept = ids[:PURGE_FAILURES_KEPT]
    errors = dict(
        model.all_workspaces_unscoped.filter(pk__in=kept).values_list("pk", "last_purge_error")
    )
    return [{"kind": kind, "id": pk, "error": errors.get(pk, "")} for pk in kept]


def purge_run(*, batch_size: int = 200) -> PurgeRun:
    """Purge expired selfies, then expired headshots, and log the run (PurgeRun).

    The log row is written before any deletion and completed after, so a run that
    crashes is recorded with its error and one that is killed shows as unfinished.
    """
    run = PurgeRun.objects.create(started_at=timezone.now())
    try:
        photos = photos_purge_expired(batch_size=batch_size)
        run.photos_matched, run.photos_deleted = photos.matched, photos.deleted
        run.photos_failed = photos.failed
        run.failures = _purge_failures(SourcePhoto, "photo", photos.failed_ids)
        headshots = headshots_purge_expired(batch_size=batch_size)
        run.headshots_matched, run.headshots_deleted = headshots.matched, headshots.deleted
        run.headshots_failed = headshots.failed
        run.failures += _purge_failures(Headshot, "headshot", headshots.failed_ids)
    except Exception as error:
        run.error = f"{type(error).__name__}: {error}"[:2000]
        logger.exception("Purge run %s stopped early", run.pk, extra={"purge_run_id": run.pk})
        raise
    finally:
        run.finished_at = timezone.now()
        run.save()
    logger.info(
        "Purge run %s: %s photos and %s headshots deleted, %s failed",
        run.pk,
        run.photos_deleted,
        run.headshots_deleted,
        run.failed,
        extra={"purge_run_id": run.pk, "failed": run.failed},
    )
    return run


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
