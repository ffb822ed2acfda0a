import ast
import threading
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.models import Schedule

from generation import services
from generation.apps import SCHEDULES
from generation.models import Headshot, Order, SourcePhoto
from tests.factories import MembershipFactory

from . import imagefiles
from .worker import deliver


def _upload(workspace, user):
    return services.photo_upload(
        workspace=workspace, user=user, upload=imagefiles.upload(imagefiles.jpeg())
    )


def _expire(photo, hours: int = 1):
    SourcePhoto.objects.for_workspace(photo.workspace).filter(pk=photo.pk).update(
        purge_at=timezone.now() - timedelta(hours=hours)
    )


def _purge(*args) -> str:
    out = StringIO()
    call_command("purge_photos", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def broken_storage(monkeypatch):
    """Names whose storage delete fails (None in the set: every name), until cleared."""
    failing: set = set()
    real_delete = FileSystemStorage.delete

    def delete(self, name):
        if None in failing or name in failing:
            raise OSError("bucket unreachable")
        return real_delete(self, name)

    monkeypatch.setattr(FileSystemStorage, "delete", delete)
    return failing


def _photos(workspace):
    return SourcePhoto.objects.for_workspace(workspace)


def test_expired_photo_goes_from_storage_and_db_with_its_face_data_fresh_one_stays(workspace, user):
    expired, fresh = _upload(workspace, user), _upload(workspace, user)
    services.photo_store_face_data(photo=expired, face_data=b"face")
    _expire(expired)

    output = _purge()

    assert "photos: 1 deleted, 0 failed" in output
    assert not default_storage.exists(expired.storage_name)
    assert list(_photos(workspace)) == [fresh]
    assert default_storage.exists(fresh.storage_name)


def test_purge_is_idempotent(workspace, user):
    _expire(_upload(workspace, user))

    assert "photos: 1 deleted" in _purge()
    assert "photos: 0 deleted, 0 failed" in _purge()


def test_dry_run_reports_and_deletes_nothing(workspace, user):
    photo = _upload(workspace, user)
    _expire(photo)

    assert "photos: 1 would be deleted" in _purge("--dry-run")
    assert default_storage.exists(photo.storage_name)
    assert _photos(workspace).filter(pk=photo.pk).exists()


def test_storage_failure_keeps_the_row_for_the_next_run(workspace, user, broken_storage):
    broken, fine = _upload(workspace, user), _upload(workspace, user)
    services.photo_store_face_data(photo=broken, face_data=b"face")
    _expire(broken)
    _expire(fine)
    broken_storage.add(broken.storage_name)

    output = _purge("--batch-size", "1")

    assert "photos: 1 deleted, 1 failed" in output
    kept = _photos(workspace).get()
    assert kept.pk == broken.pk
    assert kept.purge_attempts == 1 and "bucket unreachable" in kept.last_purge_error
    assert kept.face_data is None
    assert default_storage.exists(broken.storage_name)

    broken_storage.clear()
    assert "photos: 1 deleted, 0 failed" in _purge()
    assert not _photos(workspace).exists()
    assert not default_storage.exists(broken.storage_name)


def test_owner_delete_with_storage_down_hides_the_photo_and_leaves_it_to_the_purge(
    workspace, user, broken_storage
):
    photo = _upload(workspace, user)
    broken_storage.add(None)

    assert services.photo_delete(photo=photo) is False
    kept = _photos(workspace).get()
    assert kept.purge_at <= timezone.now() and kept.purge_attempts == 1


def test_batches_cover_everything(workspace, user):
    photos = [_upload(workspace, user) for _ in range(5)]
    for photo in photos:
        _expire(photo)

    assert "photos: 5 deleted" in _purge("--batch-size", "2")
    assert not _photos(workspace).exists()


def _queries_to_purge(workspace, user, count: int) -> int:
    for _ in range(count):
        _expire(_upload(workspace, user))
    with CaptureQueriesContext(connection) as queries:
        result = services.photos_purge_expired()
    assert result.deleted == count
    return len(queries)


def test_a_batch_costs_the_same_queries_for_5_photos_or_25(workspace, user):
    assert _queries_to_purge(workspace, user, 5) == _queries_to_purge(workspace, user, 25)


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks: run with DATABASE_URL=postgres://..."
)
@pytest.mark.django_db(transaction=True)
def test_a_photo_another_transaction_holds_is_left_for_the_next_run():
    membership = MembershipFactory()
    held, free = (_upload(membership.workspace, membership.user) for _ in range(2))
    _expire(held)
    _expire(free)
    locked, release = threading.Event(), threading.Event()

    def hold():
        with transaction.atomic():
            SourcePhoto.all_workspaces_unscoped.select_for_update().get(pk=held.pk)
            locked.set()
            release.wait(30)
        connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(10)
        started = time.monotonic()
        output = _purge()
        waited = time.monotonic() - started
    finally:
        release.set()
        holder.join()

    assert "photos: 1 deleted, 0 failed" in output and waited < 10
    assert list(_photos(membership.workspace)) == [held]
    assert default_storage.exists(held.storage_name)
    assert not default_storage.exists(free.storage_name)
    assert "photos: 1 deleted, 0 failed" in _purge()
    assert not _photos(membership.workspace).exists()


@pytest.fixture
def finished_order(workspace, user, photo, free_style):
    order = services.order_create(
        workspace=workspace, user=user, photo=photo, style_slugs=[free_style.slug], per_style=2
    )
    return deliver(order)


def _finish_days_ago(order, days: int):
    Order.objects.for_workspace(order.workspace).filter(pk=order.pk).update(
        finished_at=timezone.now() - timedelta(days=days)
    )


def test_headshots_go_after_their_plans_retention(finished_order, workspace):
    headshots = list(Headshot.objects.for_workspace(workspace))
    _finish_days_ago(finished_order, 6)

    assert "headshots: 0 deleted" in _purge()
    assert Headshot.objects.for_workspace(workspace).count() == 2

    _finish_days_ago(finished_order, 8)  # the free plan keeps results 7 days
    assert "headshots: 2 deleted, 0 failed" in _purge()
    assert not Headshot.objects.for_workspace(workspace).exists()
    for headshot in headshots:
        assert not default_storage.exists(headshot.file.name)
        assert not default_storage.exists(headshot.thumbnail.name)
    assert Order.objects.for_workspace(workspace).get().status == Order.Status.SUCCEEDED


def test_premium_keeps_headshots_longer(finished_order, workspace, premium):
    _finish_days_ago(finished_order, 30)

    assert "headshots: 0 deleted" in _purge()
    _finish_days_ago(finished_order, 91)
    assert "headshots: 2 deleted" in _purge()


def test_headshot_storage_failure_keeps_the_row(finished_order, workspace, broken_storage):
    _finish_days_ago(finished_order, 30)
    broken_storage.add(None)

    assert "headshots: 0 deleted, 2 failed" in _purge()
    assert all(h.purge_attempts == 1 for h in Headshot.objects.for_workspace(workspace))


def test_migrate_creates_the_hourly_purge_schedule_idempotently(db):
    purge = Schedule.objects.get(name=SCHEDULES[0]["name"])
    assert purge.func == "django.core.management.call_command"
    assert purge.args == "'purge_photos'"
    assert purge.schedule_type == Schedule.HOURLY and purge.repeats == -1
    Schedule.objects.filter(pk=purge.pk).update(schedule_type=Schedule.DAILY)

    call_command("migrate", verbosity=0)

    assert Schedule.objects.filter(name=SCHEDULES[0]["name"]).count() == 1
    assert Schedule.objects.get(pk=purge.pk).schedule_type == Schedule.HOURLY
    assert (
        Schedule.objects.get(name=SCHEDULES[1]["name"]).func
        == "generation.tasks.recover_stale_orders"
    )


def test_the_scheduled_functions_run(db, workspace, user):
    photo = _upload(workspace, user)
    _expire(photo)

    for spec in SCHEDULES:
        args = ast.literal_eval(spec["args"]) if spec["args"] else ()
        import_string(spec["func"])(*(args if isinstance(args, tuple) else (args,)))

    assert not _photos(workspace).exists()
