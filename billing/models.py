from datetime import datetime, timedelta

from django.conf import settings
from django.db import models

from accounts.scoping import WorkspaceOwnedModel


class PlanCode(models.TextChoices):
    FREE = "free", "Free"
    PREMIUM = "premium", "Premium"
    TEAM = "team", "Team"


class BillingAccount(WorkspaceOwnedModel):
    """The workspace's Stripe customer: created once, reused by every checkout and portal."""

    workspace = models.OneToOneField(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="billing_account"
    )
    # Null rather than blank so the unique constraint ignores workspaces without one yet.
    stripe_customer_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.workspace} ({self.stripe_customer_id or 'no customer'})"


class Subscription(WorkspaceOwnedModel):
    """Our copy of one Stripe subscription, kept current by webhooks.

    A workspace may collect several over time (cancel, then subscribe again); each
    keeps its own ordering marks, so a late event about an old subscription never
    touches the new one.
    """

    class Status(models.TextChoices):
        # Not a Stripe status: the row was created by an invoice event that arrived
        # before any snapshot of the subscription itself.
        UNKNOWN = "unknown", "Unknown"
        INCOMPLETE = "incomplete", "Incomplete"
        INCOMPLETE_EXPIRED = "incomplete_expired", "Incomplete, expired"
        TRIALING = "trialing", "Trialing"
        ACTIVE = "active", "Active"
        PAST_DUE = "past_due", "Past due"
        UNPAID = "unpaid", "Unpaid"
        CANCELED = "canceled", "Canceled"
        PAUSED = "paused", "Paused"

    # Stripe never revives a subscription from these.
    TERMINAL_STATUSES = frozenset({Status.CANCELED, Status.INCOMPLETE_EXPIRED})
    GOOD_STANDING_STATUSES = frozenset({Status.ACTIVE, Status.TRIALING})

    stripe_subscription_id = models.CharField(max_length=255, unique=True)
    stripe_customer_id = models.CharField(max_length=255, blank=True, db_index=True)
    plan = models.CharField(max_length=16, choices=PlanCode.choices, blank=True)
    stripe_price_id = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=32, choices=Status.choices, default=Status.UNKNOWN)
    quantity = models.PositiveIntegerField(default=1)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    ended_at = models.DateTimeField(null=True, blank=True)
    # When a renewal payment first failed; the grace period runs from here.
    past_due_since = models.DateTimeField(null=True, blank=True)
    # Stripe's `created` of the newest event applied, one mark per kind of news:
    # snapshots of the subscription, and invoice outcomes (which carry no snapshot).
    state_event_at = models.DateTimeField(null=True, blank=True)
    payment_event_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.stripe_subscription_id} ({self.plan or 'unknown plan'}, {self.status})"

    @property
    def grace_ends_at(self) -> datetime | None:
        if self.past_due_since is None:
            return None
        return self.past_due_since + timedelta(days=settings.BILLING_GRACE_DAYS)

    def in_grace(self, now: datetime) -> bool:
        """Payment failed but the plan still holds: the owner should update payment."""
        return (
            self.past_due_since is not None
            and self.status not in self.TERMINAL_STATUSES
            and now < self.grace_ends_at
        )

    def grants_plan(self, now: datetime) -> bool:
        if not self.plan:
            return False
        if self.status in self.GOOD_STANDING_STATUSES or self.status == self.Status.PAST_DUE:
            if self.past_due_since is not None:
                return now < self.grace_ends_at
            # A renewal we never heard about counts as lapsed once the grace has passed
            # too, rather than leaving a missed webhook as premium forever.
            if self.current_period_end is None:
                return True
            return now < self.current_period_end + timedelta(days=settings.BILLING_GRACE_DAYS)
        if self.status == self.Status.CANCELED and self.past_due_since is None:
            # Canceled in good standing: the period already paid for still counts.
            return self.current_period_end is not None and now < self.current_period_end
        return False


class StripeEvent(models.Model):
    """Every Stripe event received, once. The unique event id is the redelivery lock."""

    class Outcome(models.TextChoices):
        APPLIED = "applied", "Applied"
        STALE = "stale", "Ignored: older than the state applied"
        UNHANDLED = "unhandled", "Ignored: event type not handled"
        NO_WORKSPACE = "no_workspace", "Ignored: no matching workspace"
        NOT_SUBSCRIPTION = "not_subscription", "Ignored: not about a subscription"

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    created = models.DateTimeField(help_text="When Stripe created the event.")
    livemode = models.BooleanField(default=False)
    outcome = models.CharField(max_length=32, choices=Outcome.choices)
    workspace = models.ForeignKey(
        "accounts.Workspace",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="stripe_events",
    )
    stripe_customer_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_object_id = models.CharField(max_length=255, blank=True)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-received_at"]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type}"
