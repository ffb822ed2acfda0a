"""The retention purge: expired selfies (24 hours) and headshots past the plan's days."""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from accounts.models import Workspace
from billing.plans import entitlements

from ..models import Headshot, PurgeRun, SourcePhoto
from .photos import photo_purge

logger = logging.getLogger(__name__)


@dataclass
class PurgeResult:
    matched: int = 0
    deleted: int = 0
    failed: int = 0
    failed_ids: list[int] = field(default_factory=list)


def headshot_purge(*, headshot_id: int) -> bool:
    with transaction.atomic():
        headshot = (
            Headshot.all_workspaces_unscoped.select_for_update().filter(pk=headshot_id).first()
        )
        if headshot is None:
            return True
        try:
            for name in (headshot.file.name, headshot.thumbnail.name):
                if name:
                    default_storage.delete(name)
        except Exception as error:
            headshot.purge_attempts += 1
            headshot.last_purge_error = f"{type(error).__name__}: {error}"[:2000]
            headshot.save(update_fields=["purge_attempts", "last_purge_error"])
            logger.warning(
                "Headshot %s: storage delete failed, kept for the next run: %s", headshot.pk, error
            )
            return False
        headshot.delete()
    return True


def _purge_in_batches(queryset, purge_one, *, batch_size: int, dry_run: bool) -> PurgeResult:
    result = PurgeResult()
    last_pk = 0
    while True:
        batch = list(
            queryset.filter(pk__gt=last_pk).order_by("pk").values_list("pk", flat=True)[:batch_size]
        )
        if not batch:
            return result
        last_pk = batch[-1]
        result.matched += len(batch)
        if dry_run:
            continue
        for pk in batch:
            if purge_one(pk):
                result.deleted += 1
            else:
                result.failed += 1
                result.failed_ids.append(pk)


def photos_purge_expired(
    *, now: datetime | None = None, batch_size: int = 200, dry_run: bool = False
) -> PurgeResult:
    """Delete every selfie past its purge time: stored object, face data and row."""
    expired = SourcePhoto.all_workspaces_unscoped.filter(purge_at__lte=now or timezone.now())
    return _purge_in_batches(
        expired, lambda pk: photo_purge(photo_id=pk), batch_size=batch_size, dry_run=dry_run
    )


def headshots_purge_expired(
    *, now: datetime | None = None, batch_size: int = 200, dry_run: bool = False
) -> PurgeResult:
    """Delete headshots kept longer than their workspace's plan allows
    (entitlements(workspace).retention_days, counted from the order's completion)."""
    now = now or timezone.now()
    total = PurgeResult()
    workspace_ids = (
        Headshot.all_workspaces_unscoped.filter(order__finished_at__isnull=False)
        .order_by()
        .values_list("workspace_id", flat=True)
        .distinct()
    )
    for workspace in Workspace.objects.filter(pk__in=list(workspace_ids)).iterator():
        cutoff = now - timedelta(days=entitlements(workspace).retention_days)
        expired = Headshot.objects.for_workspace(workspace).filter(order__finished_at__lt=cutoff)
        result = _purge_in_batches(
            expired,
            lambda pk: headshot_purge(headshot_id=pk),
            batch_size=batch_size,
            dry_run=dry_run,
        )
        total.matched += result.matched
        total.deleted += result.deleted
        total.failed += result.failed
        total.failed_ids.extend(result.failed_ids)
    return total


# A run with a storage outage can fail on thousands of rows; the log keeps the first
# few of each kind (the rows themselves keep their own last error).
PURGE_FAILURES_KEPT = 50


def _purge_failures(model, kind: str, ids: list[int]) -> list[dict]:
    kept = ids[:PURGE_FAILURES_KEPT]
    errors = dict(
        model.all_workspaces_unscoped.filter(pk__in=kept).values_list("pk", "last_purge_error")
    )
    return [{"kind": kind, "id": pk, "error": errors.get(pk, "")} for pk in kept]


def purge_run(*, batch_size: int = 200) -> PurgeRun:
    """Purge expired selfies, then expired headshots, and log the run (PurgeRun).

    The log row is written before any deletion and completed after, so a run that
    crashes is recorded with its error and one that is killed shows as unfinished.
    """
    run = PurgeRun.objects.create(started_at=timezone.now())
    try:
        photos = photos_purge_expired(batch_size=batch_size)
        run.photos_matched, run.photos_deleted = photos.matched, photos.deleted
        run.photos_failed = photos.failed
        run.failures = _purge_failures(SourcePhoto, "photo", photos.failed_ids)
        headshots = headshots_purge_expired(batch_size=batch_size)
        run.headshots_matched, run.headshots_deleted = headshots.matched, headshots.deleted
        run.headshots_failed = headshots.failed
        run.failures += _purge_failures(Headshot, "headshot", headshots.failed_ids)
    except Exception as error:
        run.error = f"{type(error).__name__}: {error}"[:2000]
        logger.exception("Purge run %s stopped early", run.pk, extra={"purge_run_id": run.pk})
        raise
    finally:
        run.finished_at = timezone.now()
        run.save()
    logger.info(
        "Purge run %s: %s photos and %s headshots deleted, %s failed",
        run.pk,
        run.photos_deleted,
        run.headshots_deleted,
        run.failed,
        extra={"purge_run_id": run.pk, "failed": run.failed},
    )
    return run
