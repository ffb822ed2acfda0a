"""Emails go out from the task queue, are retried, and an invitation shows a failed one."""

import smtplib
from datetime import timedelta

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from accounts import emails, services
from accounts.models import Invitation, OutgoingEmail, Workspace
from tests.conftest import api_client_for
from tests.factories import MembershipFactory


class DownBackend(BaseEmailBackend):
    """An SMTP server that refuses every connection."""

    def send_messages(self, email_messages):
        raise smtplib.SMTPConnectError(421, "mail server down")


@pytest.fixture
def mail_down(settings):
    settings.EMAIL_BACKEND = "tests.accounts.test_emails.DownBackend"
    return settings


def _invite(api, workspace, email="joiner@example.com"):
    return api.post(
        reverse("api_workspace_invitations", kwargs={"wid": workspace.pk}),
        {"email": email},
        format="json",
    )


def _attempt_all_retries(message: OutgoingEmail, settings) -> None:
    # The queue already made the first attempt; the scheduler would run the rest.
    for _ in range(settings.EMAIL_MAX_ATTEMPTS - 1):
        emails.email_send(message.pk)


def test_an_invitation_email_is_sent_from_the_queue_and_recorded(
    api, workspace, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _invite(api, workspace)
    assert response.status_code == 201
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["joiner@example.com"]
    message = Invitation.objects.get().email_message
    assert (message.status, message.attempts, message.body) == ("sent", 1, "")
    listed = api.get(reverse("api_workspace_invitations", kwargs={"wid": workspace.pk})).json()
    assert listed[0]["email_status"] == "sent"


def test_a_failed_send_is_retried_later_then_marked_failed_and_can_be_resent(
    api, client, user, workspace, mail_down, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert _invite(api, workspace).status_code == 201
    invitation = Invitation.objects.get()
    message = invitation.email_message
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("queued", 1)
    assert "mail server down" in message.last_error
    retry = Schedule.objects.get(name=f"email-{message.pk}-attempt-2")
    assert retry.func == emails.SEND_TASK and retry.schedule_type == Schedule.ONCE

    _attempt_all_retries(message, mail_down)
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("failed", mail_down.EMAIL_MAX_ATTEMPTS)
    assert emails.email_send(message.pk) == "nothing to send"

    listed = api.get(reverse("api_workspace_invitations", kwargs={"wid": workspace.pk})).json()
    assert listed[0]["email_status"] == "failed"
    client.force_login(user)
    page = client.get(reverse("workspace_members", args=[workspace.slug])).content.decode()
    assert "email failed" in page and "Send again" in page

    mail_down.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    url = reverse(
        "api_invitation_resend", kwargs={"wid": workspace.pk, "invitation_id": invitation.pk}
    )
    with django_capture_on_commit_callbacks(execute=True):
        resent = api.post(url)
    # The answer is given before the queue sends it; the list says what happened.
    assert resent.status_code == 200 and resent.json()["email_status"] == "queued"
    listed = api.get(reverse("api_workspace_invitations", kwargs={"wid": workspace.pk})).json()
    assert listed[0]["email_status"] == "sent"
    assert len(mail.outbox) == 1
    assert services.invitation_url(invitation) in mail.outbox[0].body


def test_the_portal_resends_an_invitation(
    client, user, workspace, django_capture_on_commit_callbacks
):
    invitation = services.invitation_create(
        workspace=workspace, invited_by=user, email="joiner@example.com"
    )
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("invitation_resend", args=[workspace.slug, invitation.pk]))
    assert response.status_code == 302
    assert [message.to for message in mail.outbox] == [["joiner@example.com"]]


def test_a_plain_member_cannot_resend(workspace, user, colleague_of):
    invitation = services.invitation_create(
        workspace=workspace, invited_by=user, email="joiner@example.com"
    )
    member = colleague_of(workspace)
    url = reverse(
        "api_invitation_resend", kwargs={"wid": workspace.pk, "invitation_id": invitation.pk}
    )
    assert api_client_for(member).post(url).status_code == 403


@pytest.fixture
def colleague_of(db):
    def make(workspace):
        return MembershipFactory(workspace=workspace, role="member").user

    return make


def test_a_workspace_name_with_a_line_break_never_makes_an_invitation_a_500(
    user, django_capture_on_commit_callbacks, settings
):
    # Such a name can no longer be saved, but rows from before may hold one.
    workspace = MembershipFactory(user=user, workspace__name="Acme\r\nBcc: x@example.com").workspace
    assert Workspace.objects.get(pk=workspace.pk).name.startswith("Acme\r\n")
    with django_capture_on_commit_callbacks(execute=True):
        response = _invite(api_client_for(user), workspace)

    assert response.status_code == 201
    message = Invitation.objects.get().email_message
    _attempt_all_retries(message, settings)
    message.refresh_from_db()
    assert message.status == "failed" and "BadHeaderError" in message.last_error
    assert mail.outbox == []


def test_verification_emails_go_through_the_queue(db, django_capture_on_commit_callbacks):
    from rest_framework.test import APIClient

    with django_capture_on_commit_callbacks(execute=True):
        response = APIClient().post(
            "/api/v1/auth/signup/",
            {"email": "new@example.com", "password": "a-long-enough-passphrase"},
            format="json",
        )
    assert response.status_code == 201
    sent = OutgoingEmail.objects.get(to="new@example.com")
    assert sent.status == "sent"
    assert [message.to for message in mail.outbox] == [["new@example.com"]]


def test_an_email_the_broker_refused_is_queued_again_once_it_is_back(
    workspace, monkeypatch, django_capture_on_commit_callbacks
):
    import redis

    def broker_down(*args, **kwargs):
        raise redis.ConnectionError("Redis is restarting")

    with monkeypatch.context() as patched, django_capture_on_commit_callbacks(execute=True):
        patched.setattr(emails, "async_task", broker_down)
        message = emails.email_queue(to="joiner@example.com", subject="Hello", body="Welcome")
    message.refresh_from_db()
    assert (message.status, message.enqueued_at, len(mail.outbox)) == ("queued", None, 0)

    # Just written: its after-commit enqueue may still be on its way.
    assert emails.emails_resend_unqueued() == 0
    OutgoingEmail.objects.filter(pk=message.pk).update(
        created_at=timezone.now() - timedelta(minutes=2)
    )
    assert emails.emails_resend_unqueued() == 1

    message.refresh_from_db()
    assert (message.status, message.attempts) == ("sent", 1)
    assert [sent.to for sent in mail.outbox] == [["joiner@example.com"]]
    assert emails.emails_resend_unqueued() == 0


def test_an_email_queued_long_ago_and_never_tried_is_queued_again_once(db):
    message = OutgoingEmail.objects.create(to="a@example.com", subject="s", body="b")
    long_ago = timezone.now() - timedelta(hours=1)
    OutgoingEmail.objects.filter(pk=message.pk).update(created_at=long_ago, enqueued_at=long_ago)
    failed = OutgoingEmail.objects.create(
        to="b@example.com", subject="s", body="b", attempts=3, status="failed"
    )

    assert emails.emails_resend_unqueued() == 1

    message.refresh_from_db()
    failed.refresh_from_db()
    assert message.status == "sent" and failed.status == "failed"
    assert [sent.to for sent in mail.outbox] == [["a@example.com"]]
