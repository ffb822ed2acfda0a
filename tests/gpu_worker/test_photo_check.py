"""The face check job on the tiny model set: taken from the priority list by the real
worker loop, with the real engine and services, as in production."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_q.brokers import get_broker
from PIL import Image

from generation import services
from generation.models import Order, SourcePhoto, Style
from generation.queue import gpu_queue_names

pytestmark = [pytest.mark.gpu_stack, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(engine):
    from gpu_worker.worker import GpuWorker, WorkerOptions

    return GpuWorker(
        engine=engine,
        device="cpu",
        model_set="tiny",
        worker_id="check-host:cpu",
        options=WorkerOptions(steps=2, likeness_threshold=0, heartbeat_seconds=0.2),
    )


def _upload(workspace, user, image: Image.Image) -> SourcePhoto:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    upload = SimpleUploadedFile("selfie.jpg", buffer.getvalue(), content_type="image/jpeg")
    return services.photo_upload(workspace=workspace, user=user, upload=upload)


def test_a_selfie_with_a_face_passes_and_the_order_reuses_its_face_data(
    worker, engine, workspace, user, astronaut, monkeypatch, django_capture_on_commit_callbacks
):
    photo = _upload(workspace, user, astronaut)
    # A free workspace's check still goes on the priority list: someone is waiting.
    assert get_broker(gpu_queue_names()[0]).queue_size() == 1

    assert worker.run(max_orders=1) == 1

    photo.refresh_from_db()
    assert photo.check_status == "ok" and photo.check_error_code == ""
    assert photo.checked_at is not None
    assert services.photo_read_face_data(photo=photo) is not None
    assert all(get_broker(name).queue_size() == 0 for name in gpu_queue_names())

    # The order must not analyse the selfie again.
    def analysed_twice(image):
        raise AssertionError("the order analysed a face the check had already stored")

    monkeypatch.setattr(engine, "analyze_face", analysed_twice)
    style = Style.objects.create(slug="grey", name="Grey", description="d", prompt="portrait")
    with django_capture_on_commit_callbacks(execute=True):
        order = services.order_create(
            workspace=workspace, user=user, photo=photo, style_slugs=[style.slug], per_style=1
        )
    assert worker.run(max_orders=1) == 1
    order.refresh_from_db()
    assert order.status == Order.Status.SUCCEEDED, (order.error_code, order.error_message)


def test_a_photo_without_a_face_is_rejected_with_its_reason(worker, workspace, user, noise_photo):
    photo = _upload(workspace, user, noise_photo.resize((640, 640)))

    assert worker.run(max_orders=1) == 1

    photo.refresh_from_db()
    assert photo.check_status == "rejected"
    assert photo.check_error_code == "no_face"
    assert photo.face_data is None
    assert photo.check_message.startswith("No usable face: try a photo where your face is clear")


def test_a_check_for_a_photo_deleted_meanwhile_does_nothing(worker, workspace, user, astronaut):
    photo = _upload(workspace, user, astronaut)
    assert services.photo_delete(photo=photo)

    assert worker.run(max_orders=1) == 1

    assert not SourcePhoto.objects.for_workspace(workspace).exists()
    assert all(get_broker(name).queue_size() == 0 for name in gpu_queue_names())


def test_a_check_that_cannot_finish_leaves_the_photo_waiting_and_the_worker_up(
    worker, engine, workspace, user, astronaut, monkeypatch
):
    def model_error(image):
        raise RuntimeError("ONNX Runtime lost its session")

    monkeypatch.setattr(engine, "analyze_face", model_error)
    photo = _upload(workspace, user, astronaut)

    assert worker.run(max_orders=1) == 1

    photo.refresh_from_db()
    # Never turned down for our own fault: the studio keeps saying it is waiting.
    assert photo.check_status == "pending" and photo.face_data is None
