"""The services the GPU worker calls: claim, heartbeat, headshots, finish, release, recover."""

import io
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.utils import timezone
from django_q.models import OrmQ
from PIL import Image

from generation import selectors, services
from generation.models import ErrorCode, Order, QuotaUsage, SourcePhoto

from .worker import deliver, headshot_image


@pytest.fixture
def order(workspace, user, photo, free_style, second_free_style):
    return services.order_create(
        workspace=workspace,
        user=user,
        photo=photo,
        style_slugs=[free_style.slug, second_free_style.slug],
        per_style=2,
    )


def _reload(order) -> Order:
    return Order.objects.for_workspace(order.workspace).get(pk=order.pk)


def _used(workspace) -> int:
    return QuotaUsage.objects.for_workspace(workspace).get().used


def test_mark_running_claims_once_and_ignores_redelivery(order):
    first = services.order_mark_running(order_id=order.pk, worker_id="gpu-a")

    assert first.status == Order.Status.RUNNING and first.worker_id == "gpu-a"
    assert first.attempts == 1 and first.heartbeat_at is not None
    # Another worker gets the redelivered message while gpu-a is alive: nothing to do.
    assert services.order_mark_running(order_id=order.pk, worker_id="gpu-b") is None
    # The same worker seeing it again (a duplicate delivery) keeps its claim.
    assert services.order_mark_running(order_id=order.pk, worker_id="gpu-a").attempts == 1
    assert services.order_mark_running(order_id=123456789, worker_id="gpu-a") is None


def test_mark_running_ignores_finished_orders(order):
    services.order_cancel(order=order)

    assert services.order_mark_running(order_id=order.pk, worker_id="gpu-a") is None
    assert _reload(order).status == Order.Status.CANCELED


def test_a_silent_worker_is_taken_over(order, settings):
    services.order_mark_running(order_id=order.pk, worker_id="gpu-a")
    Order.objects.for_workspace(order.workspace).filter(pk=order.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.GPU_HEARTBEAT_TIMEOUT + 1)
    )

    taken = services.order_mark_running(order_id=order.pk, worker_id="gpu-b")

    assert taken.worker_id == "gpu-b" and taken.attempts == 2
    assert services.order_heartbeat(order=order, worker_id="gpu-a") is False
    assert services.order_heartbeat(order=order, worker_id="gpu-b") is True


def test_heartbeat_and_progress(order):
    running = services.order_mark_running(order_id=order.pk, worker_id="gpu-a")
    Order.objects.for_workspace(order.workspace).filter(pk=order.pk).update(heartbeat_at=None)

    assert services.order_record_progress(
        order=running, worker_id="gpu-a", stage="Finding your face"
    )

    reloaded = _reload(order)
    assert reloaded.stage == "Finding your face" and reloaded.heartbeat_at is not None


def test_pending_slots_and_idempotent_headshots(order, free_style):
    running = services.order_mark_running(order_id=order.pk, worker_id="gpu-a")
    slots = selectors.order_pending_slots(order=running)
    assert [(slot.style.slug, slot.index) for slot in slots] == [
        ("corporate-grey", 0),
        ("corporate-grey", 1),
        ("modern-office", 0),
        ("modern-office", 1),
    ]

    first = services.headshot_create(
        order=running, style=free_style, index=0, seed=7, image=headshot_image(), likeness=0.9
    )
    again = services.headshot_create(
        order=running, style=free_style, index=0, seed=8, image=headshot_image(), likeness=0.1
    )

    assert again.pk == first.pk and again.seed == 7
    assert running.headshots.count() == 1
    assert _reload(order).done == 1
    assert len(selectors.order_pending_slots(order=running)) == 3
    assert (first.width, first.height) == (64, 64)
    assert default_storage.exists(first.file.name) and default_storage.exists(first.thumbnail.name)


def test_headshot_from_encoded_bytes_keeps_its_format(order, free_style):
    running = services.order_mark_running(order_id=order.pk, worker_id="gpu-a")
    png = io.BytesIO()
    Image.new("RGB", (80, 60), "white").save(png, format="PNG")

    headshot = services.headshot_create(
        order=running, style=free_style, index=1, seed=1, image=png.getvalue(), likeness=None
    )

    assert headshot.file.name.endswith(".png") and headshot.content_type == "image/png"
    assert (headshot.width, headshot.height) == (80, 60)


def test_headshot_outside_the_order_is_refused(order, free_style, premium_style):
    running = services.order_mark_running(order_id=order.pk, worker_id="gpu-a")

    with pytest.raises(ValueError):
        services.headshot_create(
            order=running, style=free_style, index=2, seed=1, image=headshot_image(), likeness=None
        )
    with pytest.raises(ValueError):
        services.headshot_create(
            order=running,
            style=premium_style,
            index=0,
            seed=1,
            image=headshot_image(),
            likeness=None,
        )
    assert running.headshots.count() == 0


def test_no_headshots_after_the_order_finished(order, free_style):
    running = services.order_mark_running(order_id=order.pk, worker_id="gpu-a")
    services.order_mark_failed(order=running, code=ErrorCode.NO_FACE, message="No face found.")

    with pytest.raises(ValidationError) as refused:
        services.headshot_create(
            order=running, style=free_style, index=0, seed=1, image=headshot_image(), likeness=None
        )

    assert refused.value.code == "order_not_running"
    assert not default_storage.exists(f"headshots/{order.workspace_id}/{order.pk}")


def test_succeeded_emails_the_customer_once(order, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        finished = deliver(order)
        services.order_mark_succeeded(order=finished)

    assert finished.status == Order.Status.SUCCEEDED and finished.done == 4
    assert finished.finished_at is not None
    assert _used(order.workspace) == 4
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [user.email]
    assert "ready" in mail.outbox[0].subject
    assert f"/orders/{order.pk}/" in mail.outbox[0].body


def test_a_partial_success_refunds_the_shortfall(order):
    finished = deliver(order, count=3)

    assert finished.status == Order.Status.SUCCEEDED and finished.done == 3
    assert finished.quota_refunded == 1
    assert _used(order.workspace) == 3


def test_failed_refunds_what_was_not_delivered_and_emails(
    order, django_capture_on_commit_callbacks
):
    running = deliver(order, count=1, finish=False)

    with django_capture_on_commit_callbacks(execute=True):
        failed = services.order_mark_failed(
            order=running, code=ErrorCode.NO_FACE, message="We found no face in your photo."
        )
        services.order_mark_failed(order=running, code=ErrorCode.NO_FACE, message="again")

    assert failed.status == Order.Status.FAILED and failed.error_code == "no_face"
    assert failed.quota_refunded == 3
    assert _used(order.workspace) == 1
    assert len(mail.outbox) == 1
    assert "could not be finished" in mail.outbox[0].subject
    assert "Upload a well-lit selfie" in mail.outbox[0].body


def test_succeeded_with_nothing_made_is_a_failure(order):
    running = services.order_mark_running(order_id=order.pk, worker_id="gpu-a")

    result = services.order_mark_succeeded(order=running)

    assert result.status == Order.Status.FAILED and result.error_code == ErrorCode.GENERATION_FAILED
    assert _used(order.workspace) == 0


def test_release_hands_the_order_back_to_the_queue(order, django_capture_on_commit_callbacks):
    running = services.order_mark_running(order_id=order.pk, worker_id="gpu-a")
    OrmQ.objects.all().delete()

    with django_capture_on_commit_callbacks(execute=True):
        released = services.order_release(order=running, worker_id="gpu-a")

    assert released.status == Order.Status.QUEUED and released.worker_id == ""
    assert released.attempts == 0
    assert [message.key for message in OrmQ.objects.all()] == ["gpu"]
    assert services.order_heartbeat(order=running, worker_id="gpu-a") is False


def test_release_by_a_worker_that_lost_the_claim_does_nothing(order):
    services.order_mark_running(order_id=order.pk, worker_id="gpu-a")

    assert services.order_release(order=order, worker_id="gpu-b").status == Order.Status.RUNNING


def test_recover_stale_requeues_silent_orders(order, django_capture_on_commit_callbacks):
    services.order_mark_running(order_id=order.pk, worker_id="gpu-a")
    Order.objects.for_workspace(order.workspace).filter(pk=order.pk).update(
        heartbeat_at=timezone.now() - timedelta(minutes=10)
    )
    OrmQ.objects.all().delete()

    with django_capture_on_commit_callbacks(execute=True):
        assert services.orders_recover_stale(older_than=timedelta(minutes=5)) == 1

    assert _reload(order).status == Order.Status.QUEUED
    assert OrmQ.objects.count() == 1
    assert services.orders_recover_stale(older_than=timedelta(minutes=5)) == 0


def test_recover_stale_fails_an_order_that_keeps_losing_workers(order, settings):
    services.order_mark_running(order_id=order.pk, worker_id="gpu-a")
    Order.objects.for_workspace(order.workspace).filter(pk=order.pk).update(
        attempts=settings.GPU_MAX_ATTEMPTS, heartbeat_at=timezone.now() - timedelta(hours=1)
    )

    services.orders_recover_stale(older_than=timedelta(minutes=5))

    failed = _reload(order)
    assert failed.status == Order.Status.FAILED and failed.error_code == ErrorCode.WORKER_LOST
    assert _used(order.workspace) == 0


def test_recover_stale_resends_an_order_whose_enqueue_failed(
    order, django_capture_on_commit_callbacks
):
    Order.objects.for_workspace(order.workspace).filter(pk=order.pk).update(
        created_at=timezone.now() - timedelta(minutes=10), enqueued_at=None
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert services.orders_recover_stale(older_than=timedelta(minutes=5)) == 1

    assert _reload(order).enqueued_at is not None


def test_a_broker_outage_does_not_lose_the_order(
    workspace, user, photo, free_style, monkeypatch, django_capture_on_commit_callbacks
):
    def broken(**kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr("generation.services.orders.enqueue_order", broken)

    with django_capture_on_commit_callbacks(execute=True):
        order = services.order_create(
            workspace=workspace, user=user, photo=photo, style_slugs=[free_style.slug], per_style=1
        )

    reloaded = _reload(order)
    assert reloaded.status == Order.Status.QUEUED and reloaded.enqueued_at is None


def test_photo_read_image_and_encrypted_face_data(unchecked_photo):
    photo = unchecked_photo
    assert services.photo_read_image(photo=photo)[:2] == b"\xff\xd8"
    assert services.photo_read_face_data(photo=photo) is None

    assert services.photo_store_face_data(photo=photo, face_data=b"embedding-512-floats")

    raw = (
        SourcePhoto.objects.for_workspace(photo.workspace)
        .values_list("face_data", flat=True)
        .get(pk=photo.pk)
    )
    assert b"embedding" not in bytes(raw)
    assert services.photo_read_face_data(photo=photo) == b"embedding-512-floats"


def test_face_data_is_not_stored_for_a_deleted_photo(photo):
    services.photo_delete(photo=photo)

    assert services.photo_store_face_data(photo=photo, face_data=b"x") is False
    with pytest.raises(services.PhotoUnavailable):
        services.photo_read_image(photo=photo)


def test_order_survives_its_photo(order, photo):
    services.photo_delete(photo=photo)

    reloaded = _reload(order)
    assert reloaded.photo is None
    failed = services.order_mark_failed(
        order=reloaded, code=ErrorCode.PHOTO_UNAVAILABLE, message="Your selfie was deleted."
    )
    assert failed.error_hint.startswith("Your selfie was deleted")


def test_recover_stale_resends_a_queued_order_whose_message_may_be_lost(order, settings):
    """A broker without persistence (Redis restarted) forgets its lists; the order must
    not wait for ever."""
    sent = timezone.now() - timedelta(seconds=settings.GPU_QUEUE_RESEND_AFTER + 60)
    Order.objects.for_workspace(order.workspace).filter(pk=order.pk).update(enqueued_at=sent)
    OrmQ.objects.all().delete()

    assert services.orders_recover_stale(older_than=timedelta(minutes=5)) == 1

    assert OrmQ.objects.count() == 1
    assert _reload(order).enqueued_at > sent
    # Sent just now: not again until it has waited the full resend time once more.
    assert services.orders_recover_stale(older_than=timedelta(minutes=5)) == 0
