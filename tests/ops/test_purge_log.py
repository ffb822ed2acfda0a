"""Each purge run leaves a log row with its counts and failures, for the admin and
the purge metrics."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.files.storage import FileSystemStorage
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from generation import services
from generation.models import Order, PurgeRun, SourcePhoto
from tests.generation.worker import deliver

from .conftest import place_order, upload_photo

pytestmark = pytest.mark.django_db


def _purge(*args) -> str:
    out = StringIO()
    call_command("purge_photos", *args, stdout=out)
    return out.getvalue()


def _expire(photo) -> None:
    SourcePhoto.all_workspaces_unscoped.filter(pk=photo.pk).update(
        purge_at=timezone.now() - timedelta(hours=1)
    )


@pytest.fixture
def failing_names(monkeypatch):
    """Storage names whose delete fails."""
    names: set[str] = set()
    real_delete = FileSystemStorage.delete

    def delete(self, name):
        if name in names:
            raise OSError("bucket unreachable")
        return real_delete(self, name)

    monkeypatch.setattr(FileSystemStorage, "delete", delete)
    return names


def test_a_run_is_logged_with_its_counts_and_failures(workspace, user, failing_names):
    gone, stuck = upload_photo(workspace, user), upload_photo(workspace, user)
    _expire(gone)
    _expire(stuck)
    failing_names.add(stuck.storage_name)
    order = deliver(place_order(workspace, user, per_style=1))
    Order.all_workspaces_unscoped.filter(pk=order.pk).update(
        finished_at=timezone.now() - timedelta(days=8)
    )

    output = _purge()

    assert "photos: 1 deleted, 1 failed" in output
    run = PurgeRun.objects.get()
    assert run.finished_at >= run.started_at and run.error == ""
    assert (run.photos_matched, run.photos_deleted, run.photos_failed) == (2, 1, 1)
    assert (run.headshots_matched, run.headshots_deleted, run.headshots_failed) == (1, 1, 0)
    assert run.failures == [
        {"kind": "photo", "id": stuck.pk, "error": "OSError: bucket unreachable"}
    ]


def test_a_dry_run_logs_nothing(workspace, user):
    _expire(upload_photo(workspace, user))

    assert "photos: 1 would be deleted" in _purge("--dry-run")
    assert not PurgeRun.objects.exists()


def test_a_run_that_crashes_is_logged_with_its_error(workspace, user, monkeypatch):
    _expire(upload_photo(workspace, user))

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr("generation.services.purge.headshots_purge_expired", broken)

    with pytest.raises(RuntimeError):
        services.purge_run()

    run = PurgeRun.objects.get()
    assert run.photos_deleted == 1
    assert run.error == "RuntimeError: database went away"
    assert run.finished_at is not None


def test_the_admin_lists_runs_and_shows_failures(staff_client, workspace, user, failing_names):
    stuck = upload_photo(workspace, user)
    _expire(stuck)
    failing_names.add(stuck.storage_name)
    run = services.purge_run()

    listing = staff_client.get("/admin/generation/purgerun/?outcome=failures").content.decode()
    page = staff_client.get(reverse("admin:generation_purgerun_change", args=[run.pk]))

    assert "1 failed" in listing
    assert f"photo {stuck.pk}: OSError: bucket unreachable" in page.content.decode()
    clean = staff_client.get("/admin/generation/purgerun/?outcome=clean").content.decode()
    assert "0 purge runs" in clean
