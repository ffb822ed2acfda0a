"""Selfies: upload (checked, cleaned, encrypted), reading back, face data, deletion."""

import logging
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Least
from django.utils import timezone

from accounts.models import User, Workspace

from .. import crypto, images
from ..models import CheckStatus, SourcePhoto
from ..queue import enqueue_photo_check
from ..storage import storage_delete_many

logger = logging.getLogger(__name__)


PHOTO_LIFETIME = timedelta(hours=24)

PHOTO_PURPOSE = "photo"
FACE_DATA_PURPOSE = "face_data"


class PhotoUnavailable(Exception):
    """The selfie's stored object is gone or cannot be decrypted; the order cannot run."""


def photo_upload(*, workspace: Workspace, user: User, upload: UploadedFile) -> SourcePhoto:
    """Check, clean and encrypt a selfie, and keep it for 24 hours.

    Raises ValidationError (code names the problem) for anything but a usable photo.
    """
    # Refused before reading: a huge upload never reaches memory.
    if upload.size is not None and upload.size > images.MAX_UPLOAD_BYTES:
        raise ValidationError(
            f"This file is {upload.size / 1024 / 1024:.1f} MB; the limit is "
            f"{images.MAX_UPLOAD_BYTES // 1024 // 1024} MB. Export a smaller copy and try again.",
            code="file_too_large",
        )
    upload.seek(0)
    clean = images.clean_selfie(upload.read(images.MAX_UPLOAD_BYTES + 1))
    blob = crypto.encrypt(clean.jpeg, purpose=PHOTO_PURPOSE)
    name = default_storage.save(f"photos/{workspace.pk}/{uuid.uuid4().hex}.enc", ContentFile(blob))
    now = timezone.now()
    try:
        photo = SourcePhoto.objects.for_workspace(workspace).create(
            workspace=workspace,
            uploaded_by=user,
            storage_name=name,
            width=clean.width,
            height=clean.height,
            size_bytes=len(clean.jpeg),
            created_at=now,
            purge_at=now + PHOTO_LIFETIME,
        )
    except BaseException:
        default_storage.delete(name)
        raise
    photo_id = photo.pk
    transaction.on_commit(lambda: photo_send_to_check(photo_id))
    return photo


def photo_send_to_check(photo_id: int) -> None:
    # Runs after commit. A broker failure must not lose the upload: the photo stays
    # "waiting to be checked", which the studio says, and photos_resend_unchecked
    # sends it again once the broker is back.
    try:
        enqueue_photo_check(photo_id=photo_id)
    except Exception:
        logger.exception(
            "Photo %s: the face check could not be queued", photo_id, extra={"photo_id": photo_id}
        )
        return
    SourcePhoto.all_workspaces_unscoped.filter(pk=photo_id).update(check_sent_at=timezone.now())


def photos_resend_unchecked(*, unsent_for: timedelta, resend_after: timedelta) -> int:
    """Send again the face checks of photos still waiting: those whose message never went
    out (for `unsent_for`), and those sent `resend_after` ago and never answered (a broker
    without persistence loses its lists when it restarts). A second message is
    harmless: the worker leaves a decided photo as it is. Returns how many."""
    now = timezone.now()
    waiting = SourcePhoto.all_workspaces_unscoped.filter(
        check_status=CheckStatus.PENDING, purge_at__gt=now
    ).filter(
        Q(check_sent_at=None, created_at__lt=now - unsent_for)
        | Q(check_sent_at__lt=now - resend_after)
    )
    photo_ids = list(waiting.values_list("pk", flat=True))
    for photo_id in photo_ids:
        photo_send_to_check(photo_id)
    return len(photo_ids)


def _photo_check_record(photo: SourcePhoto, **fields) -> bool:
    # Only a pending photo changes: a redelivered check message finds it decided.
    recorded = SourcePhoto.all_workspaces_unscoped.filter(
        pk=photo.pk, check_status=CheckStatus.PENDING
    ).update(checked_at=timezone.now(), **fields)
    if recorded:
        for name, value in fields.items():
            setattr(photo, name, value)
    return bool(recorded)


def photo_check_passed(*, photo: SourcePhoto, face_data: bytes) -> bool:
    """The worker found one usable face: keep its analysis (encrypted) for the order.

    False when the photo was deleted or already decided meanwhile (nothing written).
    """
    return _photo_check_record(
        photo,
        check_status=CheckStatus.OK,
        check_error_code="",
        face_data=crypto.encrypt(face_data, purpose=FACE_DATA_PURPOSE),
    )


def photo_check_rejected(*, photo: SourcePhoto, code: str) -> bool:
    """The worker found no usable face (`code` says why): the photo cannot be ordered with."""
    return _photo_check_record(photo, check_status=CheckStatus.REJECTED, check_error_code=code)


def photo_read_image(*, photo: SourcePhoto) -> bytes:
    """The cleaned selfie as JPEG bytes (decrypted). Raises PhotoUnavailable."""
    try:
        with default_storage.open(photo.storage_name, "rb") as stored:
            blob = stored.read()
    except FileNotFoundError:
        raise PhotoUnavailable(f"Photo {photo.pk} has no stored object.") from None
    try:
        return crypto.decrypt(blob, purpose=PHOTO_PURPOSE)
    except crypto.DecryptionError as error:
        raise PhotoUnavailable(f"Photo {photo.pk} cannot be decrypted: {error}") from None


def photo_store_face_data(*, photo: SourcePhoto, face_data: bytes) -> bool:
    """Keep the worker's face analysis, encrypted; purged with the photo.

    Returns False when the photo was deleted meanwhile: nothing is written then, so
    face data never outlives its photo.
    """
    blob = crypto.encrypt(face_data, purpose=FACE_DATA_PURPOSE)
    stored = (
        SourcePhoto.objects.for_workspace(photo.workspace)
        .filter(pk=photo.pk)
        .update(face_data=blob)
    )
    if stored:
        photo.face_data = blob
    return bool(stored)


def photo_read_face_data(*, photo: SourcePhoto) -> bytes | None:
    current = SourcePhoto.objects.for_workspace(photo.workspace).filter(pk=photo.pk)
    blob = current.values_list("face_data", flat=True).first()
    if blob is None:
        return None
    try:
        return crypto.decrypt(bytes(blob), purpose=FACE_DATA_PURPOSE)
    except crypto.DecryptionError as error:
        raise PhotoUnavailable(
            f"Face data of photo {photo.pk} cannot be decrypted: {error}"
        ) from None


@dataclass
class PurgeOutcome:
    """What one bulk purge call did: rows deleted, and the ids kept with why."""

    deleted: int = 0
    failed: dict[int, str] = field(default_factory=dict)


def photos_purge(*, photo_ids: Collection[int], skip_locked: bool = False) -> PurgeOutcome:
    """Delete photos' stored objects, face data and rows, in one transaction: one
    storage call per thousand objects on S3, one DELETE for the rows.

    A photo whose stored object could not be deleted keeps its row (with why, and a
    purge time no later than now), so the next purge run tries again and nothing is
    recorded as deleted that was not; its face data goes now regardless, as it lives
    only in our database. With skip_locked, a photo another transaction holds is left
    to the next run instead of waited for; one already gone is neither deleted nor failed.
    """
    now = timezone.now()
    with transaction.atomic():
        names = dict(
            SourcePhoto.all_workspaces_unscoped.select_for_update(skip_locked=skip_locked)
            .filter(pk__in=list(photo_ids))
            .values_list("pk", "storage_name")
        )
        refused = storage_delete_many(names.values())
        outcome = PurgeOutcome(
            failed={pk: refused[name] for pk, name in names.items() if name in refused}
        )
        gone = [pk for pk in names if pk not in outcome.failed]
        if gone:
            # only("pk"): the delete collector loads each row, and face data is not small.
            SourcePhoto.all_workspaces_unscoped.filter(pk__in=gone).only("pk").delete()
            outcome.deleted = len(gone)
        for error, ids in ids_by_error(outcome.failed).items():
            SourcePhoto.all_workspaces_unscoped.filter(pk__in=ids).update(
                face_data=None,
                purge_attempts=F("purge_attempts") + 1,
                last_purge_error=error[:2000],
                purge_at=Least("purge_at", Value(now)),
            )
    if outcome.failed:
        first_id, first_error = next(iter(outcome.failed.items()))
        logger.warning(
            "%s photos: storage delete failed, kept for the next run (photo %s: %s)",
            len(outcome.failed),
            first_id,
            first_error,
        )
    return outcome


def ids_by_error(failed: dict[int, str]) -> dict[str, list[int]]:
    # An outage fails a whole batch with one message: one UPDATE for all of them.
    groups: dict[str, list[int]] = {}
    for pk, error in failed.items():
        groups.setdefault(error, []).append(pk)
    return groups


def photo_delete(*, photo: SourcePhoto) -> bool:
    """Delete a selfie now, at its owner's request.

    Returns False when the stored object could not be deleted yet: the photo is then
    hidden from its owner and the hourly purge finishes the job.
    """
    return not photos_purge(photo_ids=[photo.pk]).failed
