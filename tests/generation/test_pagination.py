from django.urls import reverse

from generation.models import Order
from generation.selectors import quota_period


def test_order_pages_hold_at_most_100_orders(api, user, workspace):
    Order.objects.for_workspace(workspace).bulk_create(
        [
            Order(
                workspace=workspace,
                placed_by=user,
                per_style=1,
                total=1,
                resolution=1024,
                queue_name="gpu",
                quota_period=quota_period(),
            )
            for _ in range(120)
        ]
    )
    url = reverse("api_orders", kwargs={"wid": workspace.pk})

    default = api.get(url).json()
    assert (default["count"], len(default["results"])) == (120, 50)
    # Over the maximum is refused, not quietly served as another size: the schema says 100.
    too_many = api.get(url, {"limit": 100_000})
    assert too_many.status_code == 400
    assert list(too_many.json()["error"]["fields"]) == ["limit"]
    full = api.get(url, {"limit": 100}).json()
    assert len(full["results"]) == 100
    assert "limit=100" in full["next"] and "offset=100" in full["next"]
    rest = api.get(full["next"]).json()
    assert len(rest["results"]) == 20 and rest["next"] is None
