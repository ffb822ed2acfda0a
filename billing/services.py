"""The one write path for billing: the Stripe customer of a workspace, checkout and
portal sessions, and the webhook events that keep our copy of each subscription
current.

Ordering: Stripe delivers events at least once and in any order. Each subscription
row keeps the `created` time of the newest event applied to it (one mark for
snapshots of the subscription, one for invoice outcomes), and an older event is
recorded but changes nothing. A canceled subscription stays canceled.
"""

import logging
import uuid
from datetime import UTC, datetime
from typing import NamedTuple

import stripe
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Membership, Role, User, Workspace

from .models import BillingAccount, PlanCode, StripeEvent, Subscription
from .plans import PAID_PLANS, PLANS, entitlements, plan_for_price, subscription_current
from .stripe_api import (
    billing_not_configured,
    stripe_client,
    subscription_cancel_now,
    subscription_set_cancel_at_period_end,
    unavailable,
)

logger = logging.getLogger(__name__)

# A sanity bound on a self-chosen seat count, well above any real team.
MAX_SEATS = 1000

SUBSCRIPTION_EVENTS = frozenset(
    {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
    }
)
INVOICE_EVENTS = frozenset({"invoice.paid", "invoice.payment_failed"})


class EventResult(NamedTuple):
    outcome: str
    workspace: Workspace | None


def _require_billing_admin(*, workspace: Workspace, user: User) -> None:
    membership = Membership.objects.filter(workspace=workspace, user=user).first()
    if membership is None or not membership.has_role(Role.ADMIN):
        raise PermissionDenied("Only owners and admins can manage billing.")


def _moment(timestamp: int | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, tz=UTC) if timestamp else None


def _id(value) -> str:
    """The id of an expandable Stripe field, expanded or not."""
    if isinstance(value, dict):
        return value.get("id") or ""
    return value or ""


def billing_account_ensure_customer(
    *, workspace: Workspace, user: User, client: stripe.StripeClient
) -> str:
    """The workspace's Stripe customer id, creating the customer the first time."""
    account, _ = BillingAccount.objects.for_workspace(workspace).get_or_create(workspace=workspace)
    if account.stripe_customer_id:
        return account.stripe_customer_id
    try:
        customer = client.v1.customers.create(
            params={
                "name": workspace.name,
                "email": user.email,
                "metadata": {"workspace_id": str(workspace.pk), "workspace_slug": workspace.slug},
            },
            # Two first checkouts racing get the same customer back from Stripe, so a
            # workspace never ends up with two.
            options={
                "idempotency_key": (
                    f"customer-create-workspace-{workspace.pk}-"
                    f"{int(workspace.created_at.timestamp())}"
                )
            },
        )
    except stripe.StripeError as error:
        raise unavailable(error) from error
    BillingAccount.objects.for_workspace(workspace).filter(
        pk=account.pk, stripe_customer_id__isnull=True
    ).update(stripe_customer_id=customer.id)
    account.refresh_from_db(fields=["stripe_customer_id"])
    return account.stripe_customer_id


def checkout_session_create(
    *,
    workspace: Workspace,
    user: User,
    plan: str,
    success_url: str,
    cancel_url: str,
    seats: int | None = None,
) -> str:
    """Start a subscription checkout for the workspace; returns the Stripe Checkout URL.

    Team is billed per seat: `seats` defaults to the number of members and may be
    more (room for people not invited yet), never fewer.
    """
    _require_billing_admin(workspace=workspace, user=user)
    chosen = PLANS.get(plan)
    if chosen is None or not chosen.is_paid:
        raise ValidationError(
            f"Choose one of the paid plans: {', '.join(p.code for p in PAID_PLANS)}.",
            code="invalid_plan",
        )
    quantity = 1
    if chosen.per_seat:
        if workspace.kind != Workspace.Kind.TEAM:
            raise ValidationError(
                "The team plan is for team workspaces. Create one to buy seats for your staff.",
                code="team_workspace_required",
            )
        members = workspace.memberships.count()
        quantity = members if seats is None else seats
        if quantity < members:
            raise ValidationError(
                f"This workspace has {members} members: buy at least {members} seats.",
                code="too_few_seats",
            )
        if quantity > MAX_SEATS:
            raise ValidationError(
                f"At most {MAX_SEATS} seats; contact us for more.", code="too_many_seats"
            )
    elif seats not in (None, 1):
        raise ValidationError(f"The {chosen.name} plan has one seat.", code="seats_not_per_seat")
    current = subscription_current(workspace)
    # A subscription canceled outright still grants its paid period, but cannot be
    # resumed at Stripe: a new checkout is the way back. One set to end with its
    # period is resumed instead (subscription_resume).
    if current is not None and current.status not in Subscription.TERMINAL_STATUSES:
        raise ValidationError(
            "This workspace already has a paid plan. Use Manage billing to change it, "
            "or Resume if it is set to end.",
            code="already_subscribed",
        )
    client = stripe_client()
    price = chosen.price_id()
    if not price:
        raise billing_not_configured(f"{chosen.price_setting} is not set.")
    customer_id = billing_account_ensure_customer(workspace=workspace, user=user, client=client)
    metadata = {"workspace_id": str(workspace.pk), "plan": chosen.code}
    try:
        session = client.v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                "customer": customer_id,
                "client_reference_id": str(workspace.pk),
                "line_items": [{"price": price, "quantity": quantity}],
                # On the subscription too, so its own events name the workspace.
                "subscription_data": {"metadata": metadata},
                "metadata": metadata,
                "success_url": success_url,
                "cancel_url": cancel_url,
            },
            # Each click is a new checkout; the key makes the client's retries of
            # this one request safe.
            options={"idempotency_key": f"checkout-session-{workspace.pk}-{uuid.uuid4().hex}"},
        )
    except stripe.StripeError as error:
        raise unavailable(error) from error
    return session.url


def subscription_resume(*, workspace: Workspace, user: User) -> Subscription:
    """Undo a cancellation that waits for the end of the paid period."""
    _require_billing_admin(workspace=workspace, user=user)
    current = subscription_current(workspace)
    if (
        current is None
        or not current.cancel_at_period_end
        or current.status in Subscription.TERMINAL_STATUSES
    ):
        raise ValidationError(
            "There is no cancellation to undo: the plan is not set to end.",
            code="nothing_to_resume",
        )
    data = subscription_set_cancel_at_period_end(current.stripe_subscription_id, cancel=False)
    subscription_sync(data=data, as_of=timezone.now(), workspace=workspace)
    current.refresh_from_db()
    return current


def subscriptions_cancel_now(*, workspace: Workspace) -> int:
    """End every live subscription of a workspace at Stripe at once (the workspace is
    going away with its owner's account); returns how many were canceled.

    Stripe's answer is applied like a webhook snapshot, so our copy is current even if
    the workspace row is gone before the `customer.subscription.deleted` event lands.
    """
    live = [
        subscription
        for subscription in Subscription.objects.for_workspace(workspace)
        if subscription.status not in Subscription.TERMINAL_STATUSES
    ]
    for subscription in live:
        data = subscription_cancel_now(subscription.stripe_subscription_id)
        subscription_sync(data=data, as_of=timezone.now(), workspace=workspace)
    return len(live)


def portal_session_create(*, workspace: Workspace, user: User, return_url: str) -> str:
    """Open the Stripe customer portal for the workspace; returns its URL."""
    _require_billing_admin(workspace=workspace, user=user)
    account = BillingAccount.objects.for_workspace(workspace).first()
    if account is None or not account.stripe_customer_id:
        raise ValidationError(
            "This workspace has no billing account yet. Choose a plan first.",
            code="no_billing_account",
        )
    client = stripe_client()
    try:
        session = client.v1.billing_portal.sessions.create(
            params={"customer": account.stripe_customer_id, "return_url": return_url},
            options={"idempotency_key": f"portal-session-{workspace.pk}-{uuid.uuid4().hex}"},
        )
    except stripe.StripeError as error:
        raise unavailable(error) from error
    return session.url


def _workspace_for(*, customer_id: str, metadata: dict | None) -> Workspace | None:
    """Our customer first; the workspace id we put in the metadata otherwise."""
    if customer_id:
        account = (
            BillingAccount.all_workspaces_unscoped.select_related("workspace")
            .filter(stripe_customer_id=customer_id)
            .first()
        )
        if account is not None:
            return account.workspace
    workspace_id = str((metadata or {}).get("workspace_id") or "")
    if workspace_id.isdigit():
        return Workspace.objects.filter(pk=int(workspace_id)).first()
    return None


def _subscription_locked(
    *, stripe_subscription_id: str, workspace: Workspace, customer_id: str
) -> Subscription:
    subscription, _ = Subscription.all_workspaces_unscoped.select_for_update().get_or_create(
        stripe_subscription_id=stripe_subscription_id,
        defaults={"workspace": workspace, "stripe_customer_id": customer_id},
    )
    return subscription


@transaction.atomic
def subscription_sync(
    *, data: dict, as_of: datetime, workspace: Workspace | None = None
) -> EventResult:
    """Apply a snapshot of a Stripe subscription taken at `as_of`, unless a newer one was."""
    stripe_subscription_id = _id(data.get("id"))
    if not stripe_subscription_id:
        return EventResult(StripeEvent.Outcome.NOT_SUBSCRIPTION, None)
    customer_id = _id(data.get("customer"))
    workspace = workspace or _workspace_for(customer_id=customer_id, metadata=data.get("metadata"))
    if workspace is None:
        logger.warning("Stripe subscription %s matches no workspace", data.get("id"))
        return EventResult(StripeEvent.Outcome.NO_WORKSPACE, None)
    subscription = _subscription_locked(
        stripe_subscription_id=stripe_subscription_id, workspace=workspace, customer_id=customer_id
    )
    if subscription.status in Subscription.TERMINAL_STATUSES or (
        subscription.state_event_at is not None and as_of < subscription.state_event_at
    ):
        return EventResult(StripeEvent.Outcome.STALE, subscription.workspace)

    items = (data.get("items") or {}).get("data") or []
    item = items[0] if items else {}
    price_id = _id(item.get("price"))
    plan = plan_for_price(price_id)
    metadata_plan = (data.get("metadata") or {}).get("plan")
    if plan is None and metadata_plan in PLANS:
        # A price we no longer list (an old or grandfathered one): keep what was bought.
        plan = PLANS[metadata_plan]
    if plan is None:
        logger.error(
            "Stripe subscription %s has unknown price %r", stripe_subscription_id, price_id
        )

    status = data.get("status") or Subscription.Status.UNKNOWN
    subscription.status = status
    subscription.plan = plan.code if plan else ""
    subscription.stripe_price_id = price_id
    subscription.quantity = item.get("quantity") or 1
    subscription.current_period_end = _moment(item.get("current_period_end"))
    subscription.cancel_at_period_end = bool(data.get("cancel_at_period_end"))
    subscription.ended_at = _moment(data.get("ended_at"))
    if customer_id:
        subscription.stripe_customer_id = customer_id
    # The status speaks for the payment state only when it is newer than the last
    # invoice outcome we applied.
    payment_mark = subscription.payment_event_at
    if status in Subscription.GOOD_STANDING_STATUSES:
        if payment_mark is None or as_of > payment_mark:
            subscription.past_due_since = None
    elif status in (Subscription.Status.PAST_DUE, Subscription.Status.UNPAID):
        if subscription.past_due_since is None and (payment_mark is None or as_of >= payment_mark):
            subscription.past_due_since = as_of
    subscription.state_event_at = as_of
    subscription.save()
    return EventResult(StripeEvent.Outcome.APPLIED, subscription.workspace)


@transaction.atomic
def subscription_payment_record(*, invoice: dict, paid: bool, as_of: datetime) -> EventResult:
    """Apply an invoice outcome: a failure starts the grace period, a payment ends it."""
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    stripe_subscription_id = _id(details.get("subscription"))
    if not stripe_subscription_id:
        return EventResult(StripeEvent.Outcome.NOT_SUBSCRIPTION, None)
    customer_id = _id(invoice.get("customer"))
    workspace = _workspace_for(customer_id=customer_id, metadata=details.get("metadata"))
    if workspace is None:
        logger.warning("Stripe invoice %s matches no workspace", invoice.get("id"))
        return EventResult(StripeEvent.Outcome.NO_WORKSPACE, None)
    # The invoice may be the first news of its subscription; the snapshot that
    # follows fills in the rest.
    subscription = _subscription_locked(
        stripe_subscription_id=stripe_subscription_id,
        workspace=workspace,
        customer_id=customer_id,
    )
    if subscription.payment_event_at is not None and as_of < subscription.payment_event_at:
        return EventResult(StripeEvent.Outcome.STALE, subscription.workspace)
    if paid:
        subscription.past_due_since = None
    elif subscription.past_due_since is None:
        subscription.past_due_since = as_of
    subscription.payment_event_at = as_of
    subscription.save()
    return EventResult(StripeEvent.Outcome.APPLIED, subscription.workspace)


def _checkout_completed(
    *, session: dict, subscription: dict | None, as_of: datetime
) -> EventResult:
    if session.get("mode") != "subscription" or subscription is None:
        return EventResult(StripeEvent.Outcome.NOT_SUBSCRIPTION, None)
    reference = str(session.get("client_reference_id") or "")
    workspace = Workspace.objects.filter(pk=int(reference)).first() if reference.isdigit() else None
    if workspace is None:
        logger.warning("Checkout session %s names no workspace of ours", session.get("id"))
        return EventResult(StripeEvent.Outcome.NO_WORKSPACE, None)
    customer_id = _id(session.get("customer"))
    account, _ = BillingAccount.objects.for_workspace(workspace).get_or_create(workspace=workspace)
    if not account.stripe_customer_id and customer_id:
        account.stripe_customer_id = customer_id
        account.save(update_fields=["stripe_customer_id"])
    return subscription_sync(data=subscription, as_of=as_of, workspace=workspace)


def _subscription_fetch(stripe_subscription_id: str) -> dict:
    try:
        return (
            stripe_client().v1.subscriptions.retrieve(stripe_subscription_id).to_dict(for_json=True)
        )
    except stripe.StripeError as error:
        raise unavailable(error) from error


def stripe_event_process(*, event: dict) -> StripeEvent | None:
    """Record and apply one verified Stripe event; None when it was already processed.

    Inserting the event id is the lock: a parallel delivery of the same event waits on
    the unique index inside its transaction, then finds it taken and does nothing.
    """
    if StripeEvent.objects.filter(event_id=event["id"]).exists():
        return None
    obj = event["data"]["object"]
    fetched = None
    if event["type"] == "checkout.session.completed" and obj.get("subscription"):
        # The session does not carry the subscription's state; read it before the
        # transaction so no lock is held across the network.
        fetched = _subscription_fetch(_id(obj["subscription"]))
    as_of = _moment(event["created"])
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = StripeEvent.objects.create(
                    event_id=event["id"],
                    type=event["type"],
                    created=as_of,
                    livemode=bool(event.get("livemode")),
                    outcome=StripeEvent.Outcome.UNHANDLED,
                    stripe_customer_id=_id(obj.get("customer")),
                    stripe_object_id=str(obj.get("id") or ""),
                    payload=event,
                )
        except IntegrityError:
            return None
        if event["type"] == "checkout.session.completed":
            result = _checkout_completed(session=obj, subscription=fetched, as_of=as_of)
        elif event["type"] in SUBSCRIPTION_EVENTS:
            result = subscription_sync(data=obj, as_of=as_of)
        elif event["type"] in INVOICE_EVENTS:
            result = subscription_payment_record(
                invoice=obj, paid=event["type"] == "invoice.paid", as_of=as_of
            )
        else:
            result = EventResult(StripeEvent.Outcome.UNHANDLED, None)
        record.outcome = result.outcome
        record.workspace = result.workspace
        record.save(update_fields=["outcome", "workspace"])
    return record


def team_workspace_create(*, owner: User, name: str) -> Workspace:
    """A team workspace for `owner`, within the free teams one person may own: paid teams
    are unlimited, so a person cannot mint free quota by making teams."""
    with transaction.atomic():
        # The owner's row lock serialises one person's parallel creations, so two
        # requests cannot both see room for the last one.
        User.objects.select_for_update().filter(pk=owner.pk).first()
        free = [
            team
            for team in account_services.teams_owned_by(owner)
            if entitlements(team).plan == PlanCode.FREE
        ]
        limit = settings.FREE_TEAM_WORKSPACES_PER_PERSON
        if len(free) >= limit:
            raise ValidationError(
                f"You already own {len(free)} team workspace{'s' if len(free) != 1 else ''} "
                f"on the free plan, the most one person can have ({limit}). Upgrade one of "
                "them to a paid plan to create another.",
                code="free_workspace_limit",
            )
        return account_services.workspace_create(owner=owner, name=name, kind=Workspace.Kind.TEAM)
