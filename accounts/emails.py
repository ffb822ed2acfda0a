"""Sending email through the task queue: queued after commit, retried, and recorded.

Every email the product sends (invitations, finished orders, address verification and
password resets) goes through email_queue: an OutgoingEmail row, then a django-q2 task
that sends it. A failed send is tried again after EMAIL_RETRY_SECONDS, doubling each
time, up to EMAIL_MAX_ATTEMPTS attempts; then the row is marked failed, which the
invitation pages show, and owners can send the invitation again.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task, schedule

from .models import OutgoingEmail

logger = logging.getLogger(__name__)

SEND_TASK = "accounts.emails.email_send"


def email_queue(*, to: str, subject: str, body: str) -> OutgoingEmail:
    """Record an email and send it from the task queue once the transaction commits."""
    message = OutgoingEmail.objects.create(to=to, subject=subject[:255], body=body)
    message_id = message.pk
    transaction.on_commit(lambda: _enqueue(message_id))
    return message


def _enqueue(message_id: int) -> None:
    try:
        async_task(SEND_TASK, message_id, task_name=f"email-{message_id}")
    except Exception:
        # The broker is down: the row stays queued, the failure is in the logs, and
        # emails_resend_unqueued sends it again once the broker is back.
        logger.exception("Email %s could not be queued", message_id)
        return
    OutgoingEmail.objects.filter(pk=message_id).update(enqueued_at=timezone.now())


# An email whose task never reached the queue is sent again after this long; one whose
# task went out but never ran (a broker without persistence lost it) after the second.
EMAIL_UNQUEUED_FOR = timedelta(minutes=1)
EMAIL_RESEND_AFTER = timedelta(minutes=30)


def emails_resend_unqueued() -> int:
    """The schedule's task: queue again every email not yet tried whose task never went
    out, or went out long ago and never ran. Sending is idempotent per row, so a
    second task for one email sends it once. Returns how many."""
    now = timezone.now()
    waiting = OutgoingEmail.objects.filter(status=OutgoingEmail.Status.QUEUED, attempts=0).filter(
        Q(enqueued_at=None, created_at__lt=now - EMAIL_UNQUEUED_FOR)
        | Q(enqueued_at__lt=now - EMAIL_RESEND_AFTER)
    )
    message_ids = list(waiting.values_list("pk", flat=True))
    for message_id in message_ids:
        _enqueue(message_id)
    return len(message_ids)


def email_send(message_id: int) -> str:
    """The task: send one queued email, or arrange the next attempt. Idempotent."""
    with transaction.atomic():
        message = OutgoingEmail.objects.select_for_update().filter(pk=message_id).first()
        if message is None or message.status != OutgoingEmail.Status.QUEUED:
            return "nothing to send"
        message.attempts += 1
        try:
            send_mail(
                subject=message.subject,
                message=message.body,
                from_email=None,
                recipient_list=[message.to],
            )
        # SMTP errors, refused headers (BadHeaderError), timeouts: all worth a retry.
        except Exception as error:
            message.last_error = f"{type(error).__name__}: {error}"[:2000]
            if message.attempts >= settings.EMAIL_MAX_ATTEMPTS:
                message.status = OutgoingEmail.Status.FAILED
                logger.error("Email %s failed for good: %s", message.pk, message.last_error)
            else:
                pause = settings.EMAIL_RETRY_SECONDS * 2 ** (message.attempts - 1)
                schedule(
                    SEND_TASK,
                    message.pk,
                    name=f"email-{message.pk}-attempt-{message.attempts + 1}",
                    schedule_type=Schedule.ONCE,
                    next_run=timezone.now() + timedelta(seconds=pause),
                )
                logger.warning(
                    "Email %s attempt %s failed, retrying in %s s: %s",
                    message.pk,
                    message.attempts,
                    pause,
                    message.last_error,
                )
            message.save(update_fields=["attempts", "last_error", "status"])
            return message.status
        message.status = OutgoingEmail.Status.SENT
        message.sent_at = timezone.now()
        message.body = ""
        message.save(update_fields=["attempts", "status", "sent_at", "body"])
    return message.status
