"""The face check of a freshly uploaded selfie: face analysis only, no generation.

A priority message (see generation.queue) names the photo. The worker decrypts it,
runs the same face analysis an order would, and records the outcome through
generation's services: the face data (encrypted) when one usable face is found, so the
order reuses it instead of analysing again, or the reason the photo is turned down.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable

from django.db import DatabaseError, close_old_connections
from django.db import connection as db_connection
from PIL import Image

from generation import selectors, services
from gpu_worker.pipeline.engine import HeadshotEngine, PipelineError
from gpu_worker.pipeline.faces import face_to_bytes

logger = logging.getLogger("gpu_worker")


def check_photo(
    *,
    engine: HeadshotEngine,
    photo_id: int,
    after_error: Callable[[], None] | None = None,
) -> str | None:
    """Check one photo; returns the status recorded, None when nothing was recorded.

    A check that cannot finish (the database away, a model error) is logged and leaves
    the photo pending, which the studio shows as waiting to be checked: it is never
    turned down for our fault, and the worker stays up for the orders behind it.
    ``after_error`` is called, inside the ``except`` block, after an error that is not
    about the photo nor the database: the worker's device check, which raises
    DeviceBroken (and hands the check back) when the device no longer works.
    """
    try:
        return _check(engine, photo_id)
    except DatabaseError:
        logger.warning("photo check %s: database unavailable", photo_id, exc_info=True)
        db_connection.close()
    except Exception:
        if after_error is not None:
            after_error()
        logger.exception("photo check %s could not finish", photo_id)
    return None


def _check(engine: HeadshotEngine, photo_id: int) -> str | None:
    close_old_connections()
    started = time.perf_counter()
    photo = selectors.photo_to_check(photo_id=photo_id)
    if photo is None:
        logger.info("photo check %s: gone or already decided", photo_id)
        return None
    try:
        selfie = Image.open(io.BytesIO(services.photo_read_image(photo=photo))).convert("RGB")
    except services.PhotoUnavailable:
        # Deleted while queued: the purge removes the row; nothing to tell anyone.
        logger.info("photo check %s: the photo is no longer stored", photo_id)
        return None
    try:
        face = engine.analyze_face(selfie)
    except PipelineError as error:
        services.photo_check_rejected(photo=photo, code=error.code)
        status = photo.check_status
        logger.info("photo check %s: rejected (%s)", photo_id, error.code)
    else:
        services.photo_check_passed(photo=photo, face_data=face_to_bytes(face))
        status = photo.check_status
        logger.info("photo check %s: face found, %d px", photo_id, face.pixels)
    logger.info("photo check %s took %.2f s", photo_id, time.perf_counter() - started)
    return status
