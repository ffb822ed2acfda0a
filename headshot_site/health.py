"""`/healthz`: is each part this process depends on answering?"""

import logging
import uuid

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from generation.queue import broker_answers

logger = logging.getLogger(__name__)


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _broker() -> None:
    if not broker_answers():
        raise RuntimeError("broker did not answer")


def _storage() -> None:
    name = default_storage.save(f"healthz/{uuid.uuid4().hex}", ContentFile(b"ok"))
    default_storage.delete(name)


CHECKS = {"database": _database, "broker": _broker, "storage": _storage}


@never_cache
def healthz(request):
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as error:  # noqa: BLE001 - any failure means "not healthy"
            logger.warning("health check failed", extra={"check": name, "error": str(error)})
            results[name] = f"fail: {type(error).__name__}"
        else:
            results[name] = "ok"
    healthy = all(value == "ok" for value in results.values())
    return JsonResponse(
        {"status": "ok" if healthy else "fail", "checks": results}, status=200 if healthy else 503
    )
