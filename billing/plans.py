"""Plans and what each one entitles a workspace to.

`entitlements(workspace)` is the single answer to "what may this workspace do": the
monthly quota (and whether it is the workspace's or each person's), the styles, the
resolution, the queue priority and the retention.
Generation, the portal and the API all ask it.

Plans live here; their prices live in Stripe, and settings name the Stripe price of
each paid plan.
"""

from dataclasses import dataclass, replace

from django.conf import settings
from django.utils import timezone

from .models import PlanCode, Subscription


class Tier:
    FREE = "free"
    PREMIUM = "premium"


@dataclass(frozen=True)
class Entitlements:
    plan: str
    monthly_quota: int
    style_tiers: frozenset[str]
    resolution: int
    # Lower runs first on the GPU queue.
    queue_priority: int
    retention_days: int
    # Paid seats: the team quota is per seat; every other plan has one.
    seats: int = 1
    # True: monthly_quota is each person's, shared by every such workspace they order in
    # (the free plan, so that new workspaces never mint new free headshots). False: it
    # is the workspace's own.
    quota_per_person: bool = False

    def allows_style_tier(self, tier: str) -> bool:
        return tier in self.style_tiers

    def as_dict(self) -> dict:
        return {
            "plan": self.plan,
            "monthly_quota": self.monthly_quota,
            "style_tiers": sorted(self.style_tiers),
            "resolution": self.resolution,
            "queue_priority": self.queue_priority,
            "retention_days": self.retention_days,
            "seats": self.seats,
            "quota_per_person": self.quota_per_person,
        }


FREE = Entitlements(
    plan=PlanCode.FREE.value,
    monthly_quota=8,
    style_tiers=frozenset({Tier.FREE}),
    resolution=1024,
    queue_priority=1,
    retention_days=7,
    quota_per_person=True,
)

_PAID = Entitlements(
    plan=PlanCode.PREMIUM.value,
    monthly_quota=200,
    style_tiers=frozenset({Tier.FREE, Tier.PREMIUM}),
    resolution=4096,
    queue_priority=0,
    retention_days=90,
)


@dataclass(frozen=True)
class Plan:
    code: str
    name: str
    tagline: str
    # Entitlements of one seat; per-seat plans multiply the quota by the seats paid.
    base: Entitlements
    per_seat: bool = False
    # The settings name holding the Stripe price id; None for the free plan.
    price_setting: str | None = None

    @property
    def is_paid(self) -> bool:
        return self.price_setting is not None

    def price_id(self) -> str:
        return getattr(settings, self.price_setting, "") if self.price_setting else ""

    def entitlements_for(self, *, seats: int = 1) -> Entitlements:
        if not self.per_seat:
            return self.base
        seats = max(seats, 1)
        return replace(self.base, monthly_quota=self.base.monthly_quota * seats, seats=seats)


PLANS: dict[str, Plan] = {
    plan.code: plan
    for plan in (
        Plan(
            code=PlanCode.FREE.value,
            name="Free",
            tagline="Try it out.",
            base=FREE,
        ),
        Plan(
            code=PlanCode.PREMIUM.value,
            name="Premium",
            tagline="For your own professional headshots.",
            base=_PAID,
            price_setting="STRIPE_PRICE_PREMIUM",
        ),
        Plan(
            code=PlanCode.TEAM.value,
            name="Team",
            tagline="For companies buying for their staff.",
            base=replace(_PAID, plan=PlanCode.TEAM.value),
            per_seat=True,
            price_setting="STRIPE_PRICE_TEAM",
        ),
    )
}
PAID_PLANS = [plan for plan in PLANS.values() if plan.is_paid]


def plan_for_price(price_id: str) -> Plan | None:
    if not price_id:
        return None
    return next((plan for plan in PAID_PLANS if plan.price_id() == price_id), None)


def subscription_current(workspace) -> Subscription | None:
    """The subscription that decides the workspace's plan now, if any grants one.

    With several (a resubscribe while an old one runs out), the largest quota wins.
    """
    now = timezone.now()
    granting = [
        subscription
        for subscription in Subscription.objects.for_workspace(workspace)
        if subscription.grants_plan(now)
    ]
    return max(
        granting,
        key=lambda subscription: (
            PLANS[subscription.plan].entitlements_for(seats=subscription.quantity).monthly_quota
        ),
        default=None,
    )


def entitlements(workspace) -> Entitlements:
    subscription = subscription_current(workspace)
    if subscription is None:
        return FREE
    return PLANS[subscription.plan].entitlements_for(seats=subscription.quantity)
