"""The face check job on the tiny model set: taken from the priority list by the real
worker loop, with the real engine and services, as in production."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_q.brokers import get_broker
from PIL import Image

from generation import services
from generation.models import Order, SourcePhoto, Style, WorkerStatus
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
    checked: list[bool] = []

    def model_error(image):
        raise RuntimeError("ONNX Runtime lost its session")

    def device_works():
        checked.append(True)
        return True

    monkeypatch.setattr(engine, "analyze_face", model_error)
    monkeypatch.setattr(engine, "device_works", device_works)
    photo = _upload(workspace, user, astronaut)

    assert worker.run(max_orders=1) == 1

    photo.refresh_from_db()
    # Never turned down for our own fault: the studio keeps saying it is waiting.
    assert photo.check_status == "pending" and photo.face_data is None
    # The device was checked after the error, as after an order's, and still works.
    assert checked == [True]


def test_a_broken_device_during_a_check_hands_it_back_and_stops_the_worker(
    worker, engine, workspace, user, astronaut, monkeypatch
):
    """A sticky CUDA error in the face analysis: the photo is not turned down, its check
    goes back to the queue and the worker stops (exit status 3 from the command) for a
    restart on a fresh CUDA context, which then checks the photo."""
    from gpu_worker.worker import DeviceBroken, GpuWorker, WorkerOptions

    analysed: list[int] = []

    def illegal_memory_access(image):
        analysed.append(1)
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    photo = _upload(workspace, user, astronaut)
    with monkeypatch.context() as broken:
        broken.setattr(engine, "analyze_face", illegal_memory_access)
        broken.setattr(engine, "device_works", lambda: False)
        with pytest.raises(DeviceBroken, match="photo check in hand went back to the queue"):
            worker.run(max_orders=1)

    assert analysed == [1]
    photo.refresh_from_db()
    assert photo.check_status == "pending" and photo.face_data is None
    assert photo.checked_at is None
    assert get_broker(gpu_queue_names()[0]).queue_size() == 1
    assert WorkerStatus.objects.get(worker_id=worker.worker_id).stopped_at is not None

    restarted = GpuWorker(
        engine=engine,
        device="cpu",
        model_set="tiny",
        worker_id=worker.worker_id,
        options=WorkerOptions(steps=2, likeness_threshold=0, heartbeat_seconds=0.2),
    )
    assert restarted.run(max_orders=1) == 1
    photo.refresh_from_db()
    assert photo.check_status == "ok"
    assert services.photo_read_face_data(photo=photo) is not None


def test_the_worker_command_exits_with_status_3_when_the_device_breaks_in_a_check(
    engine, workspace, user, astronaut, monkeypatch, settings, tmp_path
):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from gpu_worker.pipeline.engine import HeadshotEngine

    def illegal_memory_access(image):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(HeadshotEngine, "load", staticmethod(lambda **kwargs: engine))
    monkeypatch.setattr(engine, "analyze_face", illegal_memory_access)
    monkeypatch.setattr(engine, "device_works", lambda: False)
    # The command installs SIGTERM/SIGINT handlers; pytest's own come back afterwards.
    monkeypatch.setattr("signal.signal", lambda *args: None)
    # A worker that was not stopped leaves with os._exit(0), which would end pytest.
    monkeypatch.setattr("os._exit", lambda status: pytest.fail(f"os._exit({status})"))
    settings.HEADSHOT_WORKER_LOCK_DIR = tmp_path / "locks"
    _upload(workspace, user, astronaut)

    with pytest.raises(CommandError, match="photo check") as stopped:
        call_command("gpu_worker", "--device", "cpu", "--models", "tiny", "--max-orders", "1")
    assert stopped.value.returncode == 3
