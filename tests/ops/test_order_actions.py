"""The admin's order actions (retry, cancel, give back quota): each goes through a
generation service, changes the order once, and leaves an audit entry."""

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import OrmQ

from core.api_errors import PaymentRequired
from generation import services
from generation.models import Order, QuotaUsage, SourcePhoto
from tests.conftest import staff_signed_in
from tests.factories import UserFactory
from tests.generation.worker import deliver

from .conftest import failed_order, place_order

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/generation/order/"


def _act(client, action: str, *orders, **extra):
    return client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [order.pk for order in orders], **extra},
        follow=True,
    )


def _reload(order) -> Order:
    return Order.objects.for_workspace(order.workspace).get(pk=order.pk)


def _used(workspace) -> int:
    return QuotaUsage.objects.for_workspace(workspace).get().used


def _audit(order) -> list[str]:
    return list(
        LogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(Order),
            object_id=str(order.pk),
            action_flag=CHANGE,
        ).values_list("change_message", flat=True)
    )


def test_retrying_a_failed_order_requeues_it_once_and_it_completes(
    staff_client, staff, workspace, user, django_capture_on_commit_callbacks
):
    order = failed_order(workspace, user, delivered=1, styles=("corporate-grey", "modern-office"))
    assert order.status == Order.Status.FAILED and order.done == 1 and _used(workspace) == 1
    OrmQ.objects.all().delete()

    with django_capture_on_commit_callbacks(execute=True):
        response = _act(staff_client, "retry_orders", order)

    assert response.status_code == 200
    assert "Requeued 1 order." in response.content.decode()
    assert get_broker(order.queue_name).queue_size() == 1
    assert OrmQ.objects.count() == 1
    retried = _reload(order)
    assert retried.status == Order.Status.QUEUED and retried.attempts == 0
    assert retried.error_code == "" and retried.finished_at is None
    # Staff chose to retry: the undelivered part is reserved again.
    assert _used(workspace) == order.total

    # The worker's part, through the services it calls.
    finished = deliver(retried, worker_id="gpu-retry-1")

    assert finished.status == Order.Status.SUCCEEDED
    assert finished.done == finished.total == 4
    assert finished.headshots.count() == 4
    assert _used(workspace) == 4
    [entry] = LogEntry.objects.filter(object_id=str(order.pk), user=staff)
    assert entry.action_flag == CHANGE
    assert "Retried: requeued on gpu for 3 undelivered headshots" in entry.change_message


def test_retry_refuses_an_order_that_is_not_failed_and_enqueues_nothing(
    staff_client, workspace, user, django_capture_on_commit_callbacks
):
    order = deliver(place_order(workspace, user))
    OrmQ.objects.all().delete()

    with django_capture_on_commit_callbacks(execute=True):
        page = _act(staff_client, "retry_orders", order).content.decode()

    assert "only failed orders can be retried" in page
    assert OrmQ.objects.count() == 0
    assert _reload(order).status == Order.Status.SUCCEEDED
    assert _audit(order) == []


def test_a_second_retry_of_the_same_order_is_refused(
    staff_client, workspace, user, django_capture_on_commit_callbacks
):
    order = failed_order(workspace, user)
    OrmQ.objects.all().delete()

    with django_capture_on_commit_callbacks(execute=True):
        _act(staff_client, "retry_orders", order)
        page = _act(staff_client, "retry_orders", order).content.decode()

    assert "is queued; only failed orders can be retried" in page
    assert OrmQ.objects.count() == 1
    assert len(_audit(order)) == 1


def test_retry_goes_past_the_monthly_quota_when_staff_decide_so(workspace, user):
    order = failed_order(workspace, user, delivered=0, per_style=4)
    # Meanwhile the customer used the rest of the month's 8.
    deliver(place_order(workspace, user, per_style=4))
    assert _used(workspace) == 4

    services.order_retry(order=order)

    assert _used(workspace) == 8
    # The limit still holds for the customer's own orders.
    with pytest.raises(PaymentRequired):
        place_order(workspace, user, per_style=1)


def test_retry_refuses_an_order_whose_selfie_is_gone(workspace, user):
    order = failed_order(workspace, user)
    SourcePhoto.objects.for_workspace(workspace).filter(pk=order.photo_id).update(
        purge_at=timezone.now()
    )

    with pytest.raises(ValidationError) as refused:
        services.order_retry(order=order)

    assert refused.value.code == "photo_expired"
    assert _reload(order).status == Order.Status.FAILED


def test_cancel_action_cancels_a_queued_order_and_gives_back_its_quota(
    staff_client, workspace, user
):
    order = place_order(workspace, user)
    running = deliver(place_order(workspace, user), finish=False)
    assert _used(workspace) == 4

    page = _act(staff_client, "cancel_orders", order, running).content.decode()

    assert _reload(order).status == Order.Status.CANCELED
    assert _reload(running).status == Order.Status.RUNNING
    assert "only queued orders can be canceled" in page
    assert _used(workspace) == 2
    assert _audit(order) == ["Canceled: 2 reserved headshots given back to the quota."]
    assert _audit(running) == []


def test_give_back_quota_asks_how_many_and_why_then_credits_and_logs(staff_client, workspace, user):
    order = deliver(place_order(workspace, user))
    assert _used(workspace) == 2

    form = _act(staff_client, "credit_quota", order)
    assert form.status_code == 200
    assert 'name="reason"' in form.content.decode()
    assert _used(workspace) == 2

    page = _act(
        staff_client, "credit_quota", order, apply="yes", count="1", reason="blurry ears"
    ).content.decode()

    assert "Gave back quota for 1 order." in page
    assert _used(workspace) == 1
    assert _reload(order).quota_credited == 1
    [message] = _audit(order)
    assert "Gave back 1 delivered headshots" in message and "blurry ears" in message


@pytest.mark.parametrize("count", ["0", "-3", "lots", "", "99999999999"])
def test_give_back_quota_with_a_bad_count_shows_the_form_again(
    staff_client, workspace, user, count
):
    order = deliver(place_order(workspace, user))

    response = _act(staff_client, "credit_quota", order, apply="yes", count=count, reason="r")

    assert response.status_code == 200
    assert 'name="count"' in response.content.decode()
    assert _used(workspace) == 2 and _audit(order) == []


def test_give_back_quota_never_exceeds_what_was_delivered(staff_client, workspace, user):
    order = deliver(place_order(workspace, user))

    page = _act(
        staff_client, "credit_quota", order, apply="yes", count="3", reason="r"
    ).content.decode()

    assert "has 2 delivered headshots not yet given back" in page
    services.order_refund_quota(order=order, count=2)
    with pytest.raises(ValidationError) as refused:
        services.order_refund_quota(order=order, count=1)
    assert refused.value.code == "credit_too_large"
    assert _used(workspace) == 0


def test_staff_without_the_operate_permission_cannot_run_order_actions(
    client, workspace, user, django_capture_on_commit_callbacks
):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_order"))
    staff_signed_in(client, viewer)
    order = failed_order(workspace, user)
    OrmQ.objects.all().delete()

    listing = client.get(CHANGELIST).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        _act(client, "retry_orders", order)

    assert "retry_orders" not in listing
    assert _reload(order).status == Order.Status.FAILED
    assert OrmQ.objects.count() == 0 and _audit(order) == []


def test_order_services_log_with_the_order_id(workspace, user, caplog):
    caplog.set_level("INFO", logger="generation.services")

    order = place_order(workspace, user)
    services.order_cancel(order=order)

    ids = {getattr(record, "order_id", None) for record in caplog.records}
    assert ids == {order.pk}
