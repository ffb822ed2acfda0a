"""The one check every fault test ends with."""

from django.db.models import Count

from generation.models import Headshot, Order, QuotaUsage


def assert_every_order_settled(workspace, *, expect_delivered: dict[int, int] | None = None):
    """Every order of the workspace is finished: succeeded with all its headshots, or
    failed/canceled with exactly what it did not deliver given back. The month's usage
    is what was delivered (nothing charged twice, nothing lost), and no slot holds two
    headshots. Returns the orders."""
    orders = list(Order.objects.for_workspace(workspace).order_by("pk"))
    assert orders, "the test placed no order"
    for order in orders:
        headshots = Headshot.objects.for_workspace(workspace).filter(order=order)
        assert order.status in Order.FINISHED, f"order {order.pk} is stuck in {order.status}"
        assert order.done == headshots.count(), order
        assert not headshots.values("style", "index").annotate(n=Count("pk")).filter(n__gt=1)
        if order.status == Order.Status.SUCCEEDED:
            assert order.done == order.total, f"order {order.pk} succeeded with {order.done}"
            assert order.quota_refunded == 0
        else:
            assert order.quota_refunded == order.total - order.done, order
        for headshot in headshots:
            assert headshot.file.storage.exists(headshot.file.name), headshot.file.name
            assert headshot.thumbnail.storage.exists(headshot.thumbnail.name)
        if expect_delivered is not None:
            assert order.done == expect_delivered[order.pk], (order.pk, order.done)
    delivered = sum(order.done for order in orders)
    used = sum(QuotaUsage.objects.for_workspace(workspace).values_list("used", flat=True))
    assert used == delivered, f"quota used {used}, headshots delivered {delivered}"
    return orders
