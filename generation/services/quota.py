"""Monthly quota: reserving under a row lock, and giving back what was not delivered."""

from accounts.models import Workspace
from headshot_site.api_errors import PaymentRequired

from ..models import Order, QuotaUsage
from ..selectors import next_quota_period


def quota_usage_locked(*, workspace: Workspace, period) -> QuotaUsage:
    """The workspace's usage row for `period`, created if missing, locked until commit."""
    usages = QuotaUsage.objects.for_workspace(workspace)
    usages.bulk_create([QuotaUsage(workspace=workspace, period=period)], ignore_conflicts=True)
    return usages.select_for_update().get(period=period)


def quota_reserve(*, workspace: Workspace, period, count: int, quota: int, plan: str) -> None:
    """Take `count` units of this month's quota, or raise PaymentRequired.

    Must run inside a transaction: the usage row stays locked until it commits, so two
    orders for the last unit are serialised and only one gets it.
    """
    usage = quota_usage_locked(workspace=workspace, period=period)
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


def quota_refund_undelivered(order: Order) -> None:
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
