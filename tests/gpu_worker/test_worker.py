"""The GPU worker on the tiny model set, in this process: the real engine, the real
services and the ORM broker, with the order taken from the queue as in production."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django_q.brokers import get_broker
from PIL import Image

from generation import services
from generation.models import Order, SourcePhoto, Style, WorkerStatus
from generation.queue import gpu_queue_names
from generation.selectors import quota_status
from tests.billing.conftest import subscription_for

# Transactional: the worker commits as it goes and its heartbeat runs on another
# thread (another connection), as in production. A transactional test starts from
# empty tables, so the styles are made here rather than taken from the seed migration.
pytestmark = [pytest.mark.gpu_stack, pytest.mark.django_db(transaction=True)]

STYLES = [
    ("corporate-grey", "corporate headshot, grey backdrop, soft light", "cartoon, blurry"),
    ("modern-office", "business portrait in a bright modern office", "cartoon, blurry"),
]


@pytest.fixture(autouse=True)
def styles(transactional_db):
    return [
        Style.objects.get_or_create(
            slug=slug,
            defaults={
                "name": slug,
                "description": slug,
                "prompt": prompt,
                "negative_prompt": negative,
            },
        )[0]
        for slug, prompt, negative in STYLES
    ]


@pytest.fixture
def worker(engine):
    from gpu_worker.worker import GpuWorker, WorkerOptions

    return GpuWorker(
        engine=engine,
        device="cpu",
        model_set="tiny",
        worker_id="test-host:cpu",
        # Few steps keep the CPU run short; the tiny set's outputs show no face, so the
        # likeness retry is exercised separately below.
        options=WorkerOptions(steps=2, likeness_threshold=0, heartbeat_seconds=0.2),
    )


def _jpeg(image: Image.Image) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return SimpleUploadedFile("selfie.jpg", buffer.getvalue(), content_type="image/jpeg")


def _upload_checked(worker, workspace, user, image: Image.Image):
    """Upload a selfie and let the worker take its face check from the queue, as in
    production: the order then reuses the stored face data."""
    photo = services.photo_upload(workspace=workspace, user=user, upload=_jpeg(image))
    assert worker.run(max_orders=1) == 1
    photo.refresh_from_db()
    assert photo.check_status == "ok", photo.check_error_code
    return photo


def _place(worker, workspace, user, image, *, styles: int = 2, per_style: int = 2, captured):
    photo = _upload_checked(worker, workspace, user, image)
    return _order(workspace, user, photo, styles=styles, per_style=per_style, captured=captured)


def _order(workspace, user, photo, *, styles: int, per_style: int, captured):
    slugs = list(Style.objects.filter(tier="free").values_list("slug", flat=True)[:styles])
    with captured(execute=True):
        return services.order_create(
            workspace=workspace, user=user, photo=photo, style_slugs=slugs, per_style=per_style
        )


def _take_from_queue(worker) -> int:
    handled = worker.run(max_orders=1)
    assert handled == 1
    return handled


def test_an_order_from_the_queue_is_delivered_with_its_headshots_stored(
    worker, workspace, user, astronaut, django_capture_on_commit_callbacks
):
    order = _place(worker, workspace, user, astronaut, captured=django_capture_on_commit_callbacks)
    assert get_broker(order.queue_name).queue_size() == 1

    _take_from_queue(worker)

    order.refresh_from_db()
    assert order.status == Order.Status.SUCCEEDED, (order.error_code, order.error_message)
    assert order.done == order.total == 4
    headshots = list(order.headshots.all())
    assert len(headshots) == 4
    assert len({headshot.seed for headshot in headshots}) == 4
    for headshot in headshots:
        assert (headshot.width, headshot.height) == (1024, 1024)
        assert headshot.generation_seconds > 0
        with default_storage.open(headshot.file.name) as stored:
            assert Image.open(stored).size == (1024, 1024)
    # The message was acknowledged, and the face data derived from the selfie is kept
    # (encrypted) with the photo so that a redelivery skips the analysis.
    assert all(get_broker(name).queue_size() == 0 for name in gpu_queue_names())
    assert services.photo_read_face_data(photo=order.photo) is not None
    status = WorkerStatus.objects.get(worker_id="test-host:cpu")
    assert status.device == "cpu" and status.model_set == "tiny" and status.stopped_at


def test_a_premium_order_is_four_times_the_size_of_a_free_one(
    worker, workspace, user, astronaut, django_capture_on_commit_callbacks
):
    free = _place(
        worker,
        workspace,
        user,
        astronaut,
        styles=1,
        per_style=1,
        captured=django_capture_on_commit_callbacks,
    )
    worker.process_order(free.pk)
    subscription_for(workspace)
    premium = _place(
        worker,
        workspace,
        user,
        astronaut,
        styles=1,
        per_style=1,
        captured=django_capture_on_commit_callbacks,
    )
    assert premium.resolution == 4096
    worker.process_order(premium.pk)

    [small] = free.headshots.all()
    [large] = premium.headshots.all()
    assert (large.width, large.height) == (4 * small.width, 4 * small.height) == (4096, 4096)


def test_a_legacy_photo_with_no_face_fails_cleanly_with_the_quota_back(
    worker, workspace, user, noise_photo, django_capture_on_commit_callbacks
):
    # A photo accepted before the face check existed (the migration marked those
    # checked) has no face data: the order analyses it, and fails cleanly.
    photo = services.photo_upload(
        workspace=workspace, user=user, upload=_jpeg(noise_photo.resize((640, 640)))
    )
    SourcePhoto.objects.for_workspace(workspace).filter(pk=photo.pk).update(check_status="ok")
    photo.refresh_from_db()
    before = quota_status(workspace=workspace).used
    order = _order(
        workspace, user, photo, styles=2, per_style=2, captured=django_capture_on_commit_callbacks
    )
    assert quota_status(workspace=workspace).used == before + 4

    worker.process_order(order.pk)

    order.refresh_from_db()
    assert order.status == Order.Status.FAILED
    assert order.error_code == "no_face"
    assert "face" in order.error_message
    assert not order.headshots.exists()
    assert quota_status(workspace=workspace).used == before


def test_a_redelivered_order_gets_no_extra_headshots(
    worker, workspace, user, astronaut, django_capture_on_commit_callbacks
):
    order = _place(
        worker, workspace, user, astronaut, per_style=1, captured=django_capture_on_commit_callbacks
    )
    worker.process_order(order.pk)
    worker.process_order(order.pk)

    order.refresh_from_db()
    assert order.status == Order.Status.SUCCEEDED
    assert order.headshots.count() == order.total == 2


def test_a_crash_then_a_restart_fills_only_the_missing_slots(
    worker, engine, workspace, user, astronaut, django_capture_on_commit_callbacks, monkeypatch
):
    """The first style is stored, then the worker dies; its restart hands the order
    back and the next run makes exactly the rest."""
    order = _place(worker, workspace, user, astronaut, captured=django_capture_on_commit_callbacks)
    calls = []
    real_generate = engine.generate

    def dies_on_second_style(**kwargs):
        calls.append(kwargs["prompt"])
        if len(calls) == 2:
            raise SystemExit("killed")
        return real_generate(**kwargs)

    monkeypatch.setattr(engine, "generate", dies_on_second_style)
    with pytest.raises(SystemExit):
        worker.process_order(order.pk)
    monkeypatch.setattr(engine, "generate", real_generate)
    order.refresh_from_db()
    assert (order.status, order.done) == (Order.Status.RUNNING, 2)

    with django_capture_on_commit_callbacks(execute=True):
        assert services.orders_release_for_worker(worker_id=worker.worker_id) == 1
    _take_from_queue(worker)

    order.refresh_from_db()
    assert order.status == Order.Status.SUCCEEDED
    assert order.headshots.count() == order.total == 4
    assert quota_status(workspace=workspace).used == 4


def test_stop_request_finishes_the_batch_and_hands_the_rest_back(
    worker, engine, workspace, user, astronaut, django_capture_on_commit_callbacks, monkeypatch
):
    order = _place(worker, workspace, user, astronaut, captured=django_capture_on_commit_callbacks)
    real_generate = engine.generate

    def stop_arrives_during_the_batch(**kwargs):
        worker.stopping.set()
        return real_generate(**kwargs)

    monkeypatch.setattr(engine, "generate", stop_arrives_during_the_batch)
    with django_capture_on_commit_callbacks(execute=True):
        worker.process_order(order.pk)

    order.refresh_from_db()
    assert order.status == Order.Status.QUEUED
    assert order.done == 2
    assert get_broker(order.queue_name).queue_size() == 2  # the original message and the hand-back


def test_weak_likeness_is_made_again_with_new_seeds(
    worker, engine, workspace, user, astronaut, django_capture_on_commit_callbacks, monkeypatch
):
    from gpu_worker.worker import WorkerOptions

    worker.options = WorkerOptions(steps=2, likeness_threshold=0.5, likeness_tries=2)
    # As on the real set: the tiny set never retries (see the test below).
    monkeypatch.setattr(engine, "is_tiny", False)
    scores = iter([0.1, 0.9, 0.3, 0.6])
    monkeypatch.setattr(engine, "likeness", lambda **kwargs: next(scores))
    order = _place(
        worker,
        workspace,
        user,
        astronaut,
        styles=1,
        per_style=2,
        captured=django_capture_on_commit_callbacks,
    )

    worker.process_order(order.pk)

    likeness = sorted(order.headshots.values_list("likeness", flat=True))
    # Slot 0 scored 0.1, then 0.3, then 0.6; slot 1 passed at once with 0.9.
    assert likeness == [0.6, 0.9]


def test_face_data_survives_the_round_trip(face):
    from gpu_worker.pipeline.faces import face_from_bytes, face_to_bytes

    restored = face_from_bytes(face_to_bytes(face))
    assert restored.bbox == pytest.approx(face.bbox)
    assert np.allclose(restored.kps, face.kps)
    assert np.allclose(restored.embedding, face.embedding)


def test_every_worker_line_about_an_order_carries_its_id(
    worker, workspace, user, astronaut, django_capture_on_commit_callbacks, caplog
):
    order = _place(
        worker,
        workspace,
        user,
        astronaut,
        styles=1,
        per_style=1,
        captured=django_capture_on_commit_callbacks,
    )
    # Only the order's own lines: the face check before it logs about its photo.
    caplog.clear()
    with caplog.at_level("INFO", logger="gpu_worker"):
        worker.process_order(order.pk)
    lines = [record for record in caplog.records if record.name == "gpu_worker"]
    # The engine's own stage timings are among them.
    assert any(record.getMessage().startswith("generate 1 headshots") for record in lines)
    assert {getattr(record, "order_id", None) for record in lines} == {order.pk}


def test_the_demo_set_never_retries_for_likeness_but_records_the_score(
    worker, engine, workspace, user, astronaut, django_capture_on_commit_callbacks, monkeypatch
):
    from gpu_worker.worker import WorkerOptions

    worker.options = WorkerOptions(steps=2, likeness_threshold=0.5, likeness_tries=2)
    generated: list[int] = []
    real_generate = engine.generate

    def generate(**kwargs):
        generated.append(len(kwargs["seeds"]))
        return real_generate(**kwargs)

    monkeypatch.setattr(engine, "generate", generate)
    monkeypatch.setattr(engine, "likeness", lambda **kwargs: 0.1)
    order = _place(
        worker,
        workspace,
        user,
        astronaut,
        styles=1,
        per_style=2,
        captured=django_capture_on_commit_callbacks,
    )

    worker.process_order(order.pk)

    assert generated == [2]
    assert list(order.headshots.values_list("likeness", flat=True)) == [0.1, 0.1]


def test_a_broken_device_hands_the_order_back_unfailed_and_stops_the_worker(
    worker, engine, workspace, user, astronaut, django_capture_on_commit_callbacks, monkeypatch
):
    from gpu_worker.worker import DeviceBroken

    order = _place(worker, workspace, user, astronaut, captured=django_capture_on_commit_callbacks)
    generated: list[int] = []

    def illegal_memory_access(**kwargs):
        generated.append(1)
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(engine, "generate", illegal_memory_access)
    monkeypatch.setattr(engine, "device_works", lambda: False)

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(DeviceBroken):
        worker.run()

    order.refresh_from_db()
    assert order.status == Order.Status.QUEUED, order.error_code
    assert order.error_code == ""
    # Counted as an attempt: an order that breaks every device ends failed, not looping.
    assert order.attempts == 1
    assert generated == [1]
    assert quota_status(workspace=workspace).used == 4
    # Back in the queue for the next (restarted) worker.
    assert sum(get_broker(name).queue_size() for name in gpu_queue_names()) >= 1
    assert WorkerStatus.objects.get(worker_id=worker.worker_id).stopped_at is not None


def test_an_error_on_a_working_device_fails_only_that_order(
    worker, engine, workspace, user, astronaut, django_capture_on_commit_callbacks, monkeypatch
):
    order = _place(worker, workspace, user, astronaut, captured=django_capture_on_commit_callbacks)
    checked: list[bool] = []

    def device_works():
        checked.append(True)
        return True

    def broken_prompt(**kwargs):
        raise ValueError("a bug in one order's inputs")

    monkeypatch.setattr(engine, "generate", broken_prompt)
    monkeypatch.setattr(engine, "device_works", device_works)

    worker.process_order(order.pk)

    order.refresh_from_db()
    assert order.status == Order.Status.FAILED and order.error_code == "generation_failed"
    assert checked == [True]


def test_the_device_check_runs_a_kernel_and_reports_a_sticky_error(monkeypatch):
    import torch

    from gpu_worker.pipeline import device as device_module

    assert device_module.device_works(torch.device("cpu"))

    def sticky(*args, **kwargs):
        raise torch.AcceleratorError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(device_module.torch, "arange", sticky)
    assert not device_module.device_works(torch.device("cpu"))


def test_worker_ids_are_slots_held_by_a_lock(tmp_path):
    from gpu_worker.worker import WorkerIdInUse, claim_worker_id, default_worker_id

    first = claim_worker_id(device="cuda:0", lock_dir=tmp_path)
    second = claim_worker_id(device="cuda:0", lock_dir=tmp_path)
    assert first.worker_id == default_worker_id("cuda:0")
    assert second.worker_id == default_worker_id("cuda:0") + "#2"
    with pytest.raises(WorkerIdInUse, match="--worker-id"):
        claim_worker_id(device="cuda:0", lock_dir=tmp_path, worker_id=first.worker_id)

    # A process that dies drops its lock: its restart gets the same id back, and with
    # it hands back what its previous incarnation held.
    first.release()
    assert claim_worker_id(device="cuda:0", lock_dir=tmp_path).worker_id == first.worker_id


def test_an_order_deleted_while_it_is_made_is_dropped_and_the_worker_goes_on(
    worker, engine, workspace, user, astronaut, django_capture_on_commit_callbacks, monkeypatch
):
    """Deleting one's account while an order of it is running must not stop the
    generator for everyone else."""
    deleted = _place(
        worker, workspace, user, astronaut, captured=django_capture_on_commit_callbacks
    )
    photo = deleted.photo
    real_generate = engine.generate

    def account_deleted_meanwhile(**kwargs):
        Order.all_workspaces_unscoped.filter(pk=deleted.pk).delete()
        return real_generate(**kwargs)

    monkeypatch.setattr(engine, "generate", account_deleted_meanwhile)
    assert worker.run(max_orders=1) == 1
    monkeypatch.setattr(engine, "generate", real_generate)
    following = _order(
        workspace, user, photo, styles=1, per_style=1, captured=django_capture_on_commit_callbacks
    )

    assert worker.run(max_orders=1) == 1

    assert not Order.all_workspaces_unscoped.filter(pk=deleted.pk).exists()
    following.refresh_from_db()
    assert following.status == Order.Status.SUCCEEDED


def test_an_unexpected_error_in_one_job_does_not_stop_the_worker(
    worker, workspace, user, astronaut, django_capture_on_commit_callbacks, monkeypatch
):
    first = _place(worker, workspace, user, astronaut, captured=django_capture_on_commit_callbacks)
    second = _order(
        workspace,
        user,
        first.photo,
        styles=1,
        per_style=1,
        captured=django_capture_on_commit_callbacks,
    )
    real_handle = worker.handle_message
    calls: list[int] = []

    def fails_once(message):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug outside any order's own handling")
        return real_handle(message)

    monkeypatch.setattr(worker, "handle_message", fails_once)

    assert worker.run(max_orders=2) == 2

    first.refresh_from_db()
    second.refresh_from_db()
    # The first is left for the scheduler's recovery; the worker went on to the second.
    assert first.status == Order.Status.QUEUED
    assert second.status == Order.Status.SUCCEEDED
