"""order_payload (the status poll's fast path) says exactly what OrderSerializer, the
documented shape, says, for orders in every state."""

import json

import pytest
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from generation import selectors, services
from generation.models import ErrorCode, Order
from generation.serializers import OrderSerializer, order_payload
from tests.factories import MembershipFactory
from tests.generation.worker import deliver

pytestmark = pytest.mark.django_db


def url(headshot) -> str:
    return f"/headshots/{headshot.pk}"


def both(order: Order, membership) -> tuple[bytes, bytes]:
    """(the status poll's answer, the documented serializer's), as JSON bytes."""
    order = selectors.order_get(membership=membership, order_id=order.pk)
    slow = OrderSerializer(order, context={"headshot_url": url}).data
    # The status poll reads the order with order_status_get; the lists, with order_get.
    found = selectors.order_status_get(membership=membership, order_id=order.pk)
    fast = order_payload(
        found.order, headshot_url=url, styles=found.styles, headshots=found.headshots
    )
    assert order_payload(order, headshot_url=url) == fast
    assert list(fast) == list(slow)
    # Compared as the client receives them: the JSON bytes.
    return JSONRenderer().render(fast), JSONRenderer().render(slow)


def test_order_payload_matches_the_serializer_in_every_state(
    workspace, user, photo, free_style, second_free_style, premium
):
    membership = user.memberships.get(workspace=workspace)
    place = lambda: services.order_create(  # noqa: E731
        workspace=workspace,
        user=user,
        photo=photo,
        style_slugs=[free_style.slug, second_free_style.slug],
        per_style=2,
    )
    queued = place()
    running = deliver(place(), count=2, finish=False)
    services.order_record_progress(order=running, worker_id="gpu-test-1", stage="Creating x")
    succeeded = deliver(place())
    failed = deliver(place(), count=1, finish=False)
    services.order_mark_failed(order=failed, code=ErrorCode.NO_FACE, message="No face.")
    for order in (queued, running, succeeded, failed):
        fast, slow = both(order, membership)
        assert fast == slow
    # The interesting values are really there (the comparison is not of empty shapes).
    data = json.loads(both(failed, membership)[0])
    assert data["error"]["code"] == "no_face" and data["error"]["hint"]
    assert len(data["headshots"]) == 1 and data["headshots"][0]["likeness"] == 0.8
    assert data["finished_at"].endswith("Z")
    assert json.loads(both(running, membership)[0])["progress"] == {
        "done": 2,
        "total": 4,
        "stage": "Creating x",
    }


def test_order_payload_without_a_photo_or_times(workspace, user, photo, free_style):
    membership = MembershipFactory.build(workspace=workspace, user=user, role="owner")
    order = services.order_create(
        workspace=workspace, user=user, photo=photo, style_slugs=[free_style.slug], per_style=1
    )
    services.photo_delete(photo=photo)
    Order.objects.for_workspace(workspace).filter(pk=order.pk).update(created_at=timezone.now())
    fast, slow = both(order, membership)
    assert fast == slow
    assert json.loads(fast)["photo"] is None
