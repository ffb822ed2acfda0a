"""A person's own account and data: deleting it all, and downloading it all.

Generation owns the stored objects (selfies, headshots), so the account's erasure is
written here, above accounts and billing, and asks each of them for its part.
"""

import json
import logging
import tempfile
import zipfile

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from accounts.models import Membership, Role, User, Workspace
from billing.models import StripeEvent
from billing.services import subscriptions_cancel_now

from ..models import Headshot, Order, SourcePhoto
from ..selectors import headshot_filename
from .photos import photos_purge
from .purge import headshots_purge

logger = logging.getLogger(__name__)


def _memberships(user: User) -> list[Membership]:
    return list(
        Membership.objects.filter(user=user).select_related("workspace").order_by("created_at")
    )


def user_deletion_blockers(*, user: User) -> list[Workspace]:
    """Teams that would be left without an owner: the user is their only owner and
    other people are still in them."""
    blockers = []
    for membership in _memberships(user):
        workspace = membership.workspace
        if workspace.kind != Workspace.Kind.TEAM or membership.role != Role.OWNER:
            continue
        others = Membership.objects.filter(workspace=workspace).exclude(user=user)
        if others.exists() and not others.filter(role=Role.OWNER).exists():
            blockers.append(workspace)
    return blockers


def _workspaces_to_erase(user: User) -> list[Workspace]:
    """The personal workspace, and teams where nobody else is left."""
    return [
        membership.workspace
        for membership in _memberships(user)
        if membership.workspace.kind == Workspace.Kind.PERSONAL
        or not Membership.objects.filter(workspace=membership.workspace).exclude(user=user).exists()
    ]


def user_delete(*, user: User, password: str) -> None:
    """Delete the account: selfies and headshots (stored objects too), orders, tokens,
    memberships, and the workspaces only this person used, after canceling their
    subscriptions at Stripe.

    Refused, with nothing changed, for a wrong password, while the user is the only
    owner of a team that has other members, or when Stripe cannot cancel now.
    """
    if not user.has_usable_password() or not user.check_password(password or ""):
        raise ValidationError("That password is not right.", code="wrong_password")
    blockers = user_deletion_blockers(user=user)
    if blockers:
        names = ", ".join(workspace.name for workspace in blockers)
        raise ValidationError(
            f"You are the only owner of {names}, which has other members. Make another "
            "member an owner on the Members page first, then delete your account.",
            code="sole_owner",
        )
    erased = _workspaces_to_erase(user)
    # Stripe first: a failure there (BillingUnavailable) leaves the account whole.
    for workspace in erased:
        subscriptions_cancel_now(workspace=workspace)

    erased_ids = [workspace.pk for workspace in erased]
    user_id = user.pk
    photos = SourcePhoto.all_workspaces_unscoped.filter(uploaded_by=user) | (
        SourcePhoto.all_workspaces_unscoped.filter(workspace_id__in=erased_ids)
    )
    headshots = Headshot.all_workspaces_unscoped.filter(order__placed_by=user) | (
        Headshot.all_workspaces_unscoped.filter(workspace_id__in=erased_ids)
    )
    photos_left = photos_purge(photo_ids=list(photos.values_list("pk", flat=True))).failed
    headshots_left = headshots_purge(
        headshot_ids=list(headshots.values_list("pk", flat=True))
    ).failed
    not_deleted = [f"photo {pk}" for pk in photos_left] + [
        f"headshot {pk}" for pk in headshots_left
    ]
    if not_deleted:
        # The rows stay, marked, and the hourly purge deletes the objects; what the
        # person owned is already out of reach once the account below is gone.
        logger.warning(
            "Account %s deleted; storage kept for the purge: %s", user_id, ", ".join(not_deleted)
        )
    with transaction.atomic():
        Order.all_workspaces_unscoped.filter(placed_by=user).delete()
        Workspace.objects.filter(pk__in=erased_ids).delete()
        # Tokens, email addresses, memberships and sessions' users go with the row.
        user.delete()
    logger.info("Account %s deleted with %d workspace(s)", user_id, len(erased_ids))


def _order_record(order: Order) -> dict:
    return {
        "id": order.pk,
        "workspace": order.workspace.name,
        "placed_at": order.created_at,
        "status": order.status,
        "styles": [style.name for style in order.styles.all()],
        "per_style": order.per_style,
        "headshots_ordered": order.total,
        "headshots_delivered": order.done,
        "resolution": order.resolution,
        "finished_at": order.finished_at,
        "files": [f"headshots/{headshot_filename(h)}" for h in order.headshots.all()],
    }


def _invoice_record(event: StripeEvent) -> dict:
    invoice = (event.payload.get("data") or {}).get("object") or {}
    return {
        "id": invoice.get("id") or event.stripe_object_id,
        "workspace": event.workspace.name if event.workspace else None,
        "status": "paid" if event.type == "invoice.paid" else "payment failed",
        "amount_due": invoice.get("amount_due"),
        "amount_paid": invoice.get("amount_paid"),
        "currency": invoice.get("currency"),
        "date": event.created,
        "invoice_url": invoice.get("hosted_invoice_url"),
    }


def user_export(*, user: User):
    """A zip of everything the person ordered and paid for, as an open temporary file:
    `headshots/` with their headshots and `data.json` with the account, orders and the
    invoices of workspaces they manage. Selfies are not in it: they live 24 hours and
    only ever for making headshots."""
    memberships = _memberships(user)
    orders = (
        Order.all_workspaces_unscoped.filter(
            placed_by=user, workspace__in=[m.workspace for m in memberships]
        )
        .select_related("workspace")
        .prefetch_related("styles", "headshots__style")
        .order_by("created_at")
    )
    managed = [m.workspace for m in memberships if m.has_role(Role.ADMIN)]
    invoices = (
        StripeEvent.objects.filter(workspace__in=managed, type__startswith="invoice.")
        .select_related("workspace")
        .order_by("created")
    )
    data = {
        "account": {"email": user.email, "name": user.full_name, "joined": user.date_joined},
        "workspaces": [
            {"name": m.workspace.name, "kind": m.workspace.kind, "role": m.role}
            for m in memberships
        ],
        "orders": [_order_record(order) for order in orders],
        "invoices": [_invoice_record(event) for event in invoices],
    }
    spool = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)
    with zipfile.ZipFile(spool, "w") as archive:
        archive.writestr("data.json", json.dumps(data, cls=DjangoJSONEncoder, indent=2))
        for order in orders:
            for headshot in order.headshots.all():
                with (
                    headshot.file.open("rb") as source,
                    archive.open(
                        f"headshots/{headshot_filename(headshot)}", "w", force_zip64=True
                    ) as target,
                ):
                    while chunk := source.read(1024 * 1024):
                        target.write(chunk)
    spool.seek(0)
    return spool
