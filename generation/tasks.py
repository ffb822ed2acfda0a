"""Entry points for django-q2 schedules; each only calls a service."""

from datetime import timedelta

from django.conf import settings

from . import services


def recover_stale_orders() -> int:
    return services.orders_recover_stale(
        older_than=timedelta(seconds=settings.GPU_HEARTBEAT_TIMEOUT)
    )


def resend_unchecked_photos() -> int:
    return services.photos_resend_unchecked(
        unsent_for=timedelta(minutes=1),
        resend_after=timedelta(seconds=settings.GPU_QUEUE_RESEND_AFTER),
    )
