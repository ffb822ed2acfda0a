"""Placing orders and what customers and staff do to them: cancel, retry, credit.

Also the locking and finishing helpers the worker lifecycle shares."""

import logging
from collections.abc import Sequence

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.loader import get_template, render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.emails import email_queue
from accounts.models import User, Workspace
from billing.plans import Tier, entitlements
from billing.prices import upgrade_price_words
from core.api_errors import PaymentRequired

from ..models import CheckStatus, ErrorCode, Headshot, Order, SourcePhoto
from ..queue import enqueue_order, gpu_queue_for
from ..selectors import quota_period, workspace_allowed_style_ids
from .quota import (
    QuotaShortfall,
    quota_refund_undelivered,
    quota_refusal,
    quota_reserve,
    quota_rows_locked,
    quota_take_again,
)
from .styles import styles_from_slugs

logger = logging.getLogger(__name__)


MAX_PER_STYLE = 10


def order_send_to_queue(order_id: int, queue_name: str) -> None:
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
    redo_of: Headshot | None = None,
) -> Order:
    """Place an order: reserve quota, record it, and queue it for the GPU after commit.

    Raises ValidationError for bad input, a photo not yet through its face check
    (`photo_not_checked`) or turned down by it (`photo_rejected`), a style the
    workspace's admins did not allow (`style_not_allowed`), and PaymentRequired (402) for a style above the plan's tier
    (`upgrade_required`) or an order over quota (`quota_exceeded`).
    """
    if not isinstance(per_style, int) or not 1 <= per_style <= MAX_PER_STYLE:
        raise ValidationError(
            f"Order between 1 and {MAX_PER_STYLE} headshots per style.", code="invalid_per_style"
        )
    styles = styles_from_slugs(style_slugs)
    if photo.workspace_id != workspace.pk or photo.uploaded_by_id != user.pk:
        raise ValidationError("No such photo. Upload a selfie first.", code="photo_not_found")
    if photo.purge_at <= timezone.now():
        raise ValidationError(
            "This photo was deleted after 24 hours, as promised. Upload it again to order.",
            code="photo_expired",
        )
    if photo.check_status == CheckStatus.PENDING:
        raise ValidationError(
            "This photo is still being checked for a face. Order as soon as it says "
            "“face found”: it takes a few seconds.",
            code="photo_not_checked",
        )
    if photo.check_status == CheckStatus.REJECTED:
        raise ValidationError(photo.check_message, code="photo_rejected")
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
        upgrade = upgrade_price_words(workspace)
        way_on = (
            f"Upgrade ({upgrade}) to use {'it' if len(locked) == 1 else 'them'}, or pick "
            "styles marked Free."
            if upgrade
            else "Upgrades are not available yet: pick styles marked Free."
        )
        raise PaymentRequired(
            f"{names} need{'s' if len(locked) == 1 else ''} the {needs} plan; this workspace is on "
            f"{rights.plan.title()}. {way_on}",
            code="upgrade_required",
        )
    total = len(styles) * per_style
    period = quota_period()
    queue_name = gpu_queue_for(rights.queue_priority)
    try:
        with transaction.atomic():
            person = quota_reserve(
                workspace=workspace, user=user, period=period, count=total, rights=rights
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
                free_allowance_user=person,
                redo_of=redo_of,
            )
            order.styles.set(styles)
            transaction.on_commit(lambda: order_send_to_queue(order.pk, queue_name))
    except QuotaShortfall as shortfall:
        raise quota_refusal(shortfall=shortfall, workspace=workspace) from None
    logger.info(
        "Order %s placed: %s headshots on %s",
        order.pk,
        total,
        queue_name,
        extra={"order_id": order.pk, "workspace_id": workspace.pk, "queue": queue_name},
    )
    return order


def _photo_to_order_again(order: Order, user: User) -> SourcePhoto:
    if order.photo is None or order.photo.purge_at <= timezone.now():
        raise ValidationError(
            "The selfie behind these headshots has been deleted (selfies go 24 hours after "
            "upload, or sooner when you delete them). Upload it again in the studio to "
            "order more.",
            code="photo_expired",
        )
    if order.photo.uploaded_by_id != user.pk:
        raise ValidationError(
            "Only the person whose selfie this is can order more headshots from it.",
            code="not_your_selfie",
        )
    return order.photo


def order_more_like_this(*, order: Order, user: User) -> Order:
    """The same styles and count from the same selfie, with new seeds (each order draws
    its own). Counts against the quota like any order (402 `quota_exceeded`)."""
    return order_create(
        workspace=order.workspace,
        user=user,
        photo=_photo_to_order_again(order, user),
        style_slugs=[style.slug for style in order.styles.all()],
        per_style=order.per_style,
    )


def headshot_redo(*, headshot: Headshot, user: User) -> Order:
    """Place a one-headshot order of the same style from the same selfie whose headshot,
    once made, takes this one's place in the gallery that shows it (headshot_replace).
    Costs one headshot of quota, like any order.

    Raises ValidationError `headshot_replaced` for a headshot that another already
    replaced (redo the one in its place), `redo_in_progress` while a redo of it is
    queued or running, and whatever order_create raises.
    """
    workspace = headshot.workspace
    with transaction.atomic():
        # Locked, so that a second click or a second tab waits and then sees the first redo.
        headshot = (
            Headshot.objects.for_workspace(workspace)
            .select_for_update(of=("self",))
            .select_related("order", "style")
            .get(pk=headshot.pk)
        )
        if headshot.replaced_by_id is not None:
            raise ValidationError(
                "This headshot was already redone: redo the new one in its place instead.",
                code="headshot_replaced",
            )
        if headshot.redos.exclude(status__in=Order.FINISHED).exists():
            raise ValidationError(
                "This headshot is being redone already: the new one takes its place in a moment.",
                code="redo_in_progress",
            )
        return order_create(
            workspace=workspace,
            user=user,
            photo=_photo_to_order_again(headshot.order, user),
            style_slugs=[headshot.style.slug],
            per_style=1,
            redo_of=headshot,
        )


def order_lock_by_id(order_id: int) -> Order | None:
    # of=("self",): lock the order row only, never its workspace or photo.
    return (
        Order.all_workspaces_unscoped.select_for_update(of=("self",))
        .select_related("workspace", "photo")
        .filter(pk=order_id)
        .first()
    )


def order_lock(order: Order) -> Order:
    locked = order_lock_by_id(order.pk)
    if locked is None:
        raise Order.DoesNotExist(f"Order {order.pk} no longer exists.")
    return locked


def order_finish(order: Order, *, status: str, code: str = "", message: str = "") -> None:
    """Move a locked order to a finished status, refund what it did not deliver, save."""
    now = timezone.now()
    order.done = order.headshots.count()
    order.status = status
    order.error_code = code
    order.error_message = message
    order.stage = ""
    order.finished_at = now
    quota_refund_undelivered(order)
    order.save()
    if status != Order.Status.CANCELED:
        order_id = order.pk
        transaction.on_commit(lambda: _queue_finished_email(order_id))


def order_cancel(*, order: Order) -> Order:
    """Cancel an order that has not started; its whole reservation is given back."""
    with transaction.atomic():
        order = order_lock(order)
        if order.status == Order.Status.CANCELED:
            return order
        if order.status != Order.Status.QUEUED:
            raise ValidationError(
                f"This order is {order.get_status_display().lower()}; only queued orders can be "
                "canceled.",
                code="not_cancelable",
            )
        order_finish(order, status=Order.Status.CANCELED)
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
        order = order_lock(order)
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
            quota_take_again(order=order, count=reserved)
        order.quota_refunded = 0
        order.error_code = ""
        order.error_message = ""
        order.finished_at = None
        order.started_at = None
        order.attempts = 0
        order_requeue(order)
    logger.info(
        "Order %s retried by staff: %s headshots re-reserved for %s",
        order.pk,
        reserved,
        f"{order.quota_period:%Y-%m}",
        extra={"order_id": order.pk, "reserved": reserved, "queue": order.queue_name},
    )
    return order


def order_refund_quota(*, order: Order, count: int) -> Order:
    """Give `count` delivered headshots of an order back to the allowance it came from.

    A goodwill credit from staff (the undelivered part is given back automatically
    when an order fails or is canceled). It lowers this month's usage of the allowance
    that paid for the order (the person's free allowance, or the workspace's plan
    quota), where the customer can use it; an order's delivered headshots can be
    credited once in all.
    Raises ValidationError when `count` is not a positive whole number
    (`invalid_count`), exceeds the delivered headshots not yet credited
    (`credit_too_large`) or this month's usage (`credit_exceeds_usage`).
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValidationError("Give back at least one headshot.", code="invalid_count")
    with transaction.atomic():
        order = order_lock(order)
        creditable = order.done - order.quota_credited
        if count > creditable:
            raise ValidationError(
                f"Order {order.pk} has {creditable} delivered headshot"
                f"{'s' if creditable != 1 else ''} not yet given back; {count} is too many.",
                code="credit_too_large",
            )
        period = quota_period()
        person_id = order.free_allowance_user_id
        rows = quota_rows_locked(workspace=order.workspace, person_id=person_id, period=period)
        used = rows[0].used
        if count > used:
            whose = (
                "The free allowance of the person who placed"
                if person_id is not None
                else "The workspace of"
            )
            raise ValidationError(
                f"{whose} order {order.pk} has used {used} headshot"
                f"{'s' if used != 1 else ''} in {period:%B %Y}; a credit cannot be larger.",
                code="credit_exceeds_usage",
            )
        for row in rows:
            row.used = max(row.used - count, 0)
            row.save(update_fields=["used"])
        order.quota_credited += count
        order.save(update_fields=["quota_credited"])
    logger.info(
        "Order %s: %s delivered headshots given back to the quota by staff",
        order.pk,
        count,
        extra={"order_id": order.pk, "credited": count, "period": f"{period:%Y-%m}"},
    )
    return order


def order_fail_worker_lost(order: Order) -> None:
    order_finish(
        order,
        status=Order.Status.FAILED,
        code=ErrorCode.WORKER_LOST,
        message=f"Generation stopped {order.attempts} times before finishing.",
    )


def order_requeue(order: Order) -> None:
    order.status = Order.Status.QUEUED
    order.worker_id = ""
    order.heartbeat_at = None
    order.stage = ""
    order.enqueued_at = None
    order.save()
    order_id, queue_name = order.pk, order.queue_name
    transaction.on_commit(lambda: order_send_to_queue(order_id, queue_name))


ORDER_FINISHED_EMAIL_TEMPLATE = "generation/email/order_finished.txt"


def order_finished_email_prepare() -> None:
    """Load what an order's finished email needs (the whole URL map, for its link, and
    its template) ahead of the first order. Loading them is a second or so of imports;
    a GPU worker calls this before it says it is ready, so that its first order does
    not finish that much later than the rest."""
    reverse("order_detail", kwargs={"workspace_slug": "prepare", "order_id": 1})
    get_template(ORDER_FINISHED_EMAIL_TEMPLATE)


def _queue_finished_email(order_id: int) -> None:
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
        email_queue(
            to=order.placed_by.email,
            subject=subject,
            body=render_to_string(ORDER_FINISHED_EMAIL_TEMPLATE, context),
        )
    # The order is already finished and committed; failing to queue its email must not
    # reach the worker as if the order had failed.
    except Exception:
        logger.exception(
            "Order %s: finished email could not be queued", order_id, extra={"order_id": order_id}
        )
