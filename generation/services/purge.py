"""The retention purge: expired selfies (24 hours) and headshots past the plan's days."""

import logging
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, connections, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Workspace
from billing.plans import entitlements

from ..models import Headshot, PurgeRun, SourcePhoto
from ..storage import S3_DELETE_BATCH, storage_delete_many
from .photos import PurgeOutcome, ids_by_error, photos_purge

logger = logging.getLogger(__name__)

# One S3 DeleteObjects request's worth of objects per transaction.
PURGE_BATCH_SIZE = S3_DELETE_BATCH
# Batches in flight at once on PostgreSQL (each holds a database connection).
PURGE_PARALLEL_BATCHES = 4


@dataclass
class PurgeResult:
    matched: int = 0
    deleted: int = 0
    failed: int = 0
    failed_ids: list[int] = field(default_factory=list)


def headshots_purge(*, headshot_ids: Collection[int], skip_locked: bool = False) -> PurgeOutcome:
    """The headshot counterpart of photos_purge: files and thumbnails in bulk, rows in
    one DELETE; a headshot with either object left keeps its row, with why. The purge
    run skips rows another transaction holds; an account's deletion waits for them."""
    with transaction.atomic():
        rows = list(
            Headshot.all_workspaces_unscoped.select_for_update(skip_locked=skip_locked)
            .filter(pk__in=headshot_ids)
            .values_list("pk", "file", "thumbnail")
        )
        refused = storage_delete_many(name for _, *names in rows for name in names)
        outcome = PurgeOutcome()
        for pk, *names in rows:
            errors = [refused[name] for name in names if name in refused]
            if errors:
                outcome.failed[pk] = errors[0]
        gone = [pk for pk, *_ in rows if pk not in outcome.failed]
        if gone:
            Headshot.all_workspaces_unscoped.filter(pk__in=gone).delete()
            outcome.deleted = len(gone)
        for error, ids in ids_by_error(outcome.failed).items():
            Headshot.all_workspaces_unscoped.filter(pk__in=ids).update(
                purge_attempts=F("purge_attempts") + 1, last_purge_error=error[:2000]
            )
    if outcome.failed:
        first_id, first_error = next(iter(outcome.failed.items()))
        logger.warning(
            "%s headshots: storage delete failed, kept for the next run (headshot %s: %s)",
            len(outcome.failed),
            first_id,
            first_error,
        )
    return outcome


def _purge_in_batches(queryset, purge_batch, *, batch_size: int, dry_run: bool) -> PurgeResult:
    """Walk the matching rows by primary key, batch_size at a time (1,000 fills one
    S3 DeleteObjects call); each batch is one transaction that skips rows another
    transaction holds (an owner's delete, a second purge run): the next run gets them.

    On PostgreSQL, outside a caller's transaction, PURGE_PARALLEL_BATCHES batches run
    at once, each on its own connection, so one batch's storage round trip overlaps
    another's database work; SQLite takes one writer at a time, so it goes in order.
    """
    result = PurgeResult()
    parallel = connection.vendor == "postgresql" and not connection.in_atomic_block and not dry_run
    with ThreadPoolExecutor(PURGE_PARALLEL_BATCHES if parallel else 1) as pool:
        pending = []
        last_pk = 0
        while True:
            batch = list(
                queryset.filter(pk__gt=last_pk)
                .order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            if not batch:
                break
            last_pk = batch[-1]
            result.matched += len(batch)
            if dry_run:
                continue
            if parallel:
                pending.append(pool.submit(_on_own_connection, purge_batch, batch))
            else:
                _add(result, purge_batch(batch))
        for future in pending:
            _add(result, future.result())
    return result


def _on_own_connection(purge_batch, batch: list[int]) -> PurgeOutcome:
    try:
        return purge_batch(batch)
    finally:
        # Each pool thread opened its own connection; none may stay open past the run.
        connections.close_all()


def _add(result: PurgeResult, outcome: PurgeOutcome) -> None:
    result.deleted += outcome.deleted
    result.failed += len(outcome.failed)
    result.failed_ids.extend(outcome.failed)


def photos_purge_expired(
    *, now: datetime | None = None, batch_size: int = PURGE_BATCH_SIZE, dry_run: bool = False
) -> PurgeResult:
    """Delete every selfie past its purge time: stored object, face data and row."""
    expired = SourcePhoto.all_workspaces_unscoped.filter(purge_at__lte=now or timezone.now())
    return _purge_in_batches(
        expired,
        lambda ids: photos_purge(photo_ids=ids, skip_locked=True),
        batch_size=batch_size,
        dry_run=dry_run,
    )


def headshots_purge_expired(
    *, now: datetime | None = None, batch_size: int = PURGE_BATCH_SIZE, dry_run: bool = False
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
            lambda ids: headshots_purge(headshot_ids=ids, skip_locked=True),
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


def purge_run(*, batch_size: int = PURGE_BATCH_SIZE) -> PurgeRun:
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
