"""entitlements(workspace): the one answer to what a workspace may do, from its plan."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import Subscription
from billing.plans import FREE, PLANS, Tier, entitlements
from tests.billing.conftest import subscription_for
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def test_a_workspace_without_a_subscription_is_free(workspace):
    rights = entitlements(workspace)
    assert rights == FREE
    assert (rights.monthly_quota, rights.resolution, rights.retention_days) == (8, 1024, 7)
    assert rights.allows_style_tier(Tier.FREE)
    assert not rights.allows_style_tier(Tier.PREMIUM)


def test_premium_gets_the_paid_tier(workspace):
    subscription_for(workspace, plan="premium")
    rights = entitlements(workspace)
    assert rights.as_dict() == {
        "plan": "premium",
        "monthly_quota": 200,
        "style_tiers": ["free", "premium"],
        "resolution": 4096,
        "queue_priority": 0,
        "retention_days": 90,
        "seats": 1,
        "quota_per_person": False,
    }
    assert rights.queue_priority < FREE.queue_priority


def test_team_quota_is_per_seat(workspace):
    subscription_for(workspace, plan="team", quantity=5)
    rights = entitlements(workspace)
    assert (rights.plan, rights.monthly_quota, rights.seats, rights.resolution) == (
        "team",
        1000,
        5,
        4096,
    )


def test_past_due_keeps_the_plan_through_the_grace_period_then_falls_back(workspace, settings):
    settings.BILLING_GRACE_DAYS = 7
    now = timezone.now()
    subscription = subscription_for(
        workspace, status=Subscription.Status.PAST_DUE, past_due_since=now - timedelta(days=6)
    )
    assert entitlements(workspace).plan == "premium"
    assert subscription.in_grace(now)
    subscription.past_due_since = now - timedelta(days=8)
    subscription.save()
    assert entitlements(workspace) == FREE


def test_canceled_in_good_standing_keeps_the_paid_period(workspace):
    now = timezone.now()
    subscription = subscription_for(
        workspace,
        status=Subscription.Status.CANCELED,
        ended_at=now,
        current_period_end=now + timedelta(days=3),
    )
    assert entitlements(workspace).plan == "premium"
    subscription.current_period_end = now - timedelta(seconds=1)
    subscription.save()
    assert entitlements(workspace) == FREE


def test_canceled_for_non_payment_is_free_at_once(workspace):
    now = timezone.now()
    subscription_for(
        workspace,
        status=Subscription.Status.CANCELED,
        past_due_since=now - timedelta(days=2),
        current_period_end=now + timedelta(days=20),
    )
    assert entitlements(workspace) == FREE


@pytest.mark.parametrize("status", ["incomplete", "incomplete_expired", "unpaid", "paused"])
def test_subscriptions_not_paid_for_grant_nothing(workspace, status):
    subscription_for(workspace, status=status)
    assert entitlements(workspace) == FREE


def test_a_renewal_never_heard_of_lapses_after_the_grace(workspace, settings):
    settings.BILLING_GRACE_DAYS = 7
    subscription_for(workspace, current_period_end=timezone.now() - timedelta(days=8))
    assert entitlements(workspace) == FREE


def test_the_largest_running_subscription_wins(workspace):
    MembershipFactory(workspace=workspace, role="member")
    subscription_for(workspace, plan="premium")
    subscription_for(workspace, plan="team", quantity=3)
    assert entitlements(workspace).monthly_quota == 600


def test_plans_read_their_stripe_price_from_settings(settings):
    settings.STRIPE_PRICE_TEAM = "price_team_from_env"
    assert PLANS["team"].price_id() == "price_team_from_env"
    assert PLANS["free"].price_id() == ""
