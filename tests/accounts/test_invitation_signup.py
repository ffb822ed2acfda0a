"""Invitations that survive sign-up, the landing after login, and each dead link saying why."""

import re
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.core import mail
from django.utils import timezone

from accounts import services
from accounts.models import Invitation, Membership, User
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-enough-passphrase"


def invite(workspace, owner, email="newhire@example.com") -> str:
    invitation = services.invitation_create(workspace=workspace, invited_by=owner, email=email)
    return services.invitation_token(invitation)


def confirm_path(message) -> str:
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", message.body).group(0)
    return "/" + link.split("/", 3)[3]


def test_the_invited_address_is_locked_and_verifying_lands_in_the_team_studio(
    client, user, workspace, django_capture_on_commit_callbacks
):
    token = invite(workspace, user)
    assert client.get(f"/invitations/{token}/").status_code == 200
    page = client.get(f"/accounts/signup/?invitation={quote(token)}").content.decode()
    assert 'value="newhire@example.com"' in page and "readonly" in page

    with django_capture_on_commit_callbacks(execute=True):
        # An edited address is ignored: the invitation decides.
        response = client.post(
            "/accounts/signup/",
            {"email": "someone-else@example.com", "password1": PASSWORD, "password2": PASSWORD},
        )
    assert response.status_code == 302
    newcomer = User.objects.get(email="newhire@example.com")
    assert not User.objects.filter(email="someone-else@example.com").exists()
    message = mail.outbox[-1]
    assert "Headshot Studio" in message.subject and "Headshot Studio" in message.body

    response = client.post(confirm_path(message), follow=True)

    assert response.redirect_chain[-1][0] == f"/w/{workspace.slug}/"
    assert Membership.objects.filter(workspace=workspace, user=newcomer).exists()
    assert f"Welcome to {workspace.name}!" in response.content.decode()
    assert "Successfully signed in" not in response.content.decode()
    assert Invitation.objects.get().accepted_by == newcomer


def test_a_signed_in_user_sees_a_pending_invitation_on_the_dashboard(client, user, workspace):
    invitee = UserFactory(email="invitee@example.com")
    token = invite(workspace, user, email="invitee@example.com")
    client.force_login(invitee)
    # Two workspaces to choose from (personal and the invitation): no jump to a studio.
    assert client.get("/home/")["Location"] == "/dashboard/"
    page = client.get("/dashboard/").content.decode()
    assert workspace.name in page and f"/invitations/{token}/" in page
    assert client.post(f"/invitations/{token}/")["Location"] == f"/w/{workspace.slug}/"
    assert (
        workspace.name not in client.get("/dashboard/").content.decode().split("Your workspaces")[0]
    )


def test_a_user_with_one_workspace_lands_in_its_studio(client, user, workspace):
    client.force_login(user)
    assert client.get("/home/")["Location"] == f"/w/{workspace.slug}/"
    MembershipFactory(user=user)
    assert client.get("/home/")["Location"] == "/dashboard/"


def test_login_goes_home(client, user, workspace):
    response = client.post(
        "/accounts/login/", {"login": user.email, "password": "correct-horse-battery-staple"}
    )
    assert response["Location"] == "/home/"


@pytest.mark.parametrize(
    ("spoil", "title", "words"),
    [
        ("accept", "Invitation already used", "already used"),
        ("expire", "Invitation expired", "has expired"),
        ("revoke", "Invitation withdrawn", "was withdrawn"),
    ],
)
def test_used_expired_and_withdrawn_links_each_say_so(client, user, workspace, spoil, title, words):
    token = invite(workspace, user)
    invitation = Invitation.objects.get()
    if spoil == "accept":
        services.invitation_accept(invitation=invitation, user=UserFactory(email=invitation.email))
    elif spoil == "expire":
        Invitation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    else:
        services.invitation_revoke(invitation=invitation, revoked_by=user)
    response = client.get(f"/invitations/{token}/")
    assert response.status_code == 400
    page = response.content.decode()
    assert title in page and words in page
    assert "Accept invitation" not in page and "/accounts/signup/" not in page.split("<main")[1]


def test_an_accepted_link_takes_its_member_to_the_studio(client, user, workspace):
    token = invite(workspace, user)
    member = UserFactory(email="newhire@example.com")
    services.invitation_accept(invitation=Invitation.objects.get(), user=member)
    client.force_login(member)
    assert client.get(f"/invitations/{token}/")["Location"] == f"/w/{workspace.slug}/"


def test_form_errors_sit_under_their_own_fields(client):
    page = client.post(
        "/accounts/signup/", {"email": "not-an-email", "password1": "x", "password2": "y"}
    ).content.decode()
    email_field = page.index('name="email"')
    email_error = page.index('id="id_email_error"')
    password_field = page.index('name="password1"')
    assert email_field < email_error < password_field
