"""Monthly quota: reserving under row locks, and giving back to where it came from.

Two allowances exist. A paid workspace has its own monthly quota. On the free plan
the quota is the person's (entitlements' `quota_per_person`), shared by every free
workspace they order in, in a FreeAllowanceUsage row. Every order also counts in its
workspace's QuotaUsage row, the workspace's record of what was ordered in it.

Locks are always taken person row first, then workspace row, so two transactions
never wait on each other in opposite orders.
"""

from accounts.models import User, Workspace
from billing.plans import Entitlements
from billing.prices import upgrade_price_words
from core.api_errors import PaymentRequired

from ..models import FreeAllowanceUsage, Order, QuotaUsage
from ..selectors import next_quota_period


def quota_usage_locked(*, workspace: Workspace, period) -> QuotaUsage:
    """The workspace's usage row for `period`, created if missing, locked until commit."""
    usages = QuotaUsage.objects.for_workspace(workspace)
    usages.bulk_create([QuotaUsage(workspace=workspace, period=period)], ignore_conflicts=True)
    return usages.select_for_update().get(period=period)


def free_allowance_locked(*, user_id: int, period) -> FreeAllowanceUsage:
    """The person's free-allowance row for `period`, created if missing, locked until commit."""
    FreeAllowanceUsage.objects.bulk_create(
        [FreeAllowanceUsage(user_id=user_id, period=period)], ignore_conflicts=True
    )
    return FreeAllowanceUsage.objects.select_for_update().get(user_id=user_id, period=period)


def quota_rows_locked(
    *, workspace: Workspace, person_id: int | None, period
) -> list[FreeAllowanceUsage | QuotaUsage]:
    """The rows an order charges, locked: the person's allowance first when it paid.

    The first row is the one whose limit applies."""
    rows: list[FreeAllowanceUsage | QuotaUsage] = []
    if person_id is not None:
        rows.append(free_allowance_locked(user_id=person_id, period=period))
    rows.append(quota_usage_locked(workspace=workspace, period=period))
    return rows


def _plural(count: int) -> str:
    return "s" if count != 1 else ""


def _either(ways: list[str]) -> str:
    """ "a", "a or b", "a, b, or c"."""
    if len(ways) == 1:
        return ways[0]
    return f"{', '.join(ways[:-1])}{',' if len(ways) > 2 else ''} or {ways[-1]}"


class QuotaShortfall(Exception):
    """Raised by quota_reserve inside the caller's transaction; the caller turns it into
    the customer's 402 (quota_refusal) once the transaction is over, because the
    message names a price, which may mean asking Stripe, and the quota rows must not
    stay locked meanwhile."""

    def __init__(self, *, count: int, left: int, period, rights: Entitlements, per_person: bool):
        super().__init__(f"{count} headshots asked for, {left} left")
        self.count = count
        self.left = left
        self.period = period
        self.rights = rights
        self.per_person = per_person


def quota_refusal(*, shortfall: QuotaShortfall, workspace: Workspace) -> PaymentRequired:
    """The 402 `quota_exceeded` for a shortfall: what is left, when it resets, and what
    more would cost."""
    count, left, rights = shortfall.count, shortfall.left, shortfall.rights
    resets = next_quota_period(shortfall.period)
    upgrade = upgrade_price_words(workspace)
    # Ways on, in the order a customer would try them; "order fewer" only helps an order
    # of more than one.
    ways = [] if count == 1 else ["order fewer"]
    ways.append(f"wait until {resets:%B} {resets.day}")
    if shortfall.per_person:
        used_up = (
            f"your free allowance has {left} left this month ({rights.monthly_quota} a month "
            "per person, shared by every free workspace you order in)"
        )
        if upgrade:
            ways.append(
                f"upgrade this workspace to a paid plan ({upgrade}), whose quota is its own"
            )
    else:
        used_up = (
            f"this workspace's plan quota has {left} left this month ({rights.monthly_quota} "
            f"a month on the {rights.plan.title()} plan)"
        )
        if upgrade and workspace.kind == Workspace.Kind.TEAM:
            ways.append(f"add seats for more ({upgrade})")
    said = _either(ways)
    message = (
        f"This order needs {count} headshot{_plural(count)} but {used_up}. "
        f"{said[0].upper()}{said[1:]}."
    )
    return PaymentRequired(message, code="quota_exceeded")


def quota_reserve(
    *, workspace: Workspace, user: User, period, count: int, rights: Entitlements
) -> User | None:
    """Take `count` units of this month's quota, or raise QuotaShortfall.

    Returns the person whose free allowance paid, or None when the workspace's plan
    quota did. Must run inside a transaction: the rows stay locked until it commits,
    so two orders for the last unit are serialised and only one gets it, even when
    they are placed in two different free workspaces of the same person.
    """
    person = user if rights.quota_per_person else None
    rows = quota_rows_locked(
        workspace=workspace, person_id=person.pk if person else None, period=period
    )
    left = max(rights.monthly_quota - rows[0].used, 0)
    if count > left:
        raise QuotaShortfall(
            count=count, left=left, period=period, rights=rights, per_person=person is not None
        )
    for row in rows:
        row.used += count
        row.save(update_fields=["used"])
    return person


def quota_refund_undelivered(order: Order) -> None:
    """Give back the quota of what the (locked) order did not deliver; idempotent."""
    amount = order.undelivered
    if amount <= 0:
        return
    quota_give_back(order=order, period=order.quota_period, count=amount)
    order.quota_refunded += amount


def quota_give_back(*, order: Order, period, count: int) -> None:
    """Lower the usage of `period` by `count` in every row the order was charged to."""
    for row in quota_rows_locked(
        workspace=order.workspace, person_id=order.free_allowance_user_id, period=period
    ):
        row.used = max(row.used - count, 0)
        row.save(update_fields=["used"])


def quota_take_again(*, order: Order, count: int) -> None:
    """Charge `count` again to the rows the order was charged to, past any limit
    (staff decided it: an order retry)."""
    for row in quota_rows_locked(
        workspace=order.workspace, person_id=order.free_allowance_user_id, period=order.quota_period
    ):
        row.used += count
        row.save(update_fields=["used"])
