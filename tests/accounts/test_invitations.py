import re
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.core import mail, signing
from django.utils import timezone

from accounts import services
from accounts.models import Invitation, Membership, Role
from tests.conftest import api_client_for
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def _invite(workspace, owner, email="new@example.com", role=Role.MEMBER, capture=None):
    return services.invitation_create(workspace=workspace, invited_by=owner, email=email, role=role)


def test_owner_invites_by_email_and_invitee_accepts_in_the_portal(
    client, user, workspace, django_capture_on_commit_callbacks
):
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/w/{workspace.slug}/members/", {"email": "New@Example.com", "role": "member"}
        )
    assert response.status_code == 302
    [message] = mail.outbox
    assert message.to == ["new@example.com"]
    link = re.search(r"http://\S+/invitations/(\S+)/", message.body)
    assert link, message.body

    invitee = UserFactory(email="new@example.com")
    client.force_login(invitee)
    path = f"/invitations/{link.group(1)}/"
    page = client.get(path)
    assert page.status_code == 200
    assert workspace.name in page.content.decode()
    assert client.post(path).status_code == 302
    assert Membership.objects.get(workspace=workspace, user=invitee).role == Role.MEMBER
    assert Invitation.objects.get().accepted_by == invitee


def test_members_cannot_invite(client, workspace):
    member = MembershipFactory(workspace=workspace, role=Role.MEMBER).user
    client.force_login(member)
    response = client.post(f"/w/{workspace.slug}/members/", {"email": "x@example.com"})
    assert response.status_code == 403
    api = api_client_for(member)
    assert (
        api.post(
            f"/api/v1/workspaces/{workspace.pk}/invitations/", {"email": "x@example.com"}
        ).status_code
        == 403
    )
    assert not Invitation.objects.exists()


def test_admin_invites_through_the_api(workspace):
    admin = MembershipFactory(workspace=workspace, role=Role.ADMIN).user
    response = api_client_for(admin).post(
        f"/api/v1/workspaces/{workspace.pk}/invitations/",
        {"email": "joiner@example.com", "role": "admin"},
        format="json",
    )
    assert response.status_code == 201
    assert Invitation.objects.get().role == Role.ADMIN


@pytest.mark.parametrize("email", ["not-an-email", "", "two@at@signs.example"])
def test_bad_invitation_email_is_a_clear_error(api, workspace, email):
    response = api.post(
        f"/api/v1/workspaces/{workspace.pk}/invitations/", {"email": email}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    # The request's email field refuses it before the service runs, naming the field.
    assert error["code"] == "invalid"
    assert list(error["fields"]) == ["email"]
    assert error["message"]
    assert not Invitation.objects.exists()


def test_inviting_twice_or_inviting_a_member_is_refused(user, workspace):
    _invite(workspace, user)
    with pytest.raises(Exception, match="pending invitation"):
        _invite(workspace, user)
    with pytest.raises(Exception, match="already a member"):
        _invite(workspace, user, email=user.email)


def test_personal_workspaces_take_no_invitations(api, user):
    personal = services.workspace_create_personal(user=user)
    response = api.post(
        f"/api/v1/workspaces/{personal.pk}/invitations/", {"email": "x@example.com"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "personal_workspace"


def test_expired_invitation_gets_a_clear_page_and_no_membership(client, user, workspace):
    invitation = _invite(workspace, user)
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    invitee = UserFactory(email="new@example.com")
    client.force_login(invitee)
    path = f"/invitations/{services.invitation_token(invitation)}/"
    response = client.post(path)
    assert response.status_code == 400
    assert "expired" in response.content.decode()
    assert not Membership.objects.filter(user=invitee, workspace=workspace).exists()


def test_tampered_token_is_rejected(client):
    response = client.get("/invitations/" + signing.dumps("made-up", salt="other") + "/")
    assert response.status_code == 400
    assert "not valid" in response.content.decode()


def test_invitation_is_only_for_its_addressee(client, user, workspace):
    invitation = _invite(workspace, user)
    stranger = UserFactory(email="someone-else@example.com")
    client.force_login(stranger)
    response = client.post(f"/invitations/{services.invitation_token(invitation)}/")
    assert response.status_code == 400
    assert "new@example.com" in response.content.decode()
    assert not Membership.objects.filter(user=stranger, workspace=workspace).exists()


def test_revoked_invitation_cannot_be_accepted(client, user, workspace):
    invitation = _invite(workspace, user)
    client.force_login(user)
    client.post(f"/w/{workspace.slug}/members/invitations/{invitation.pk}/revoke/")
    invitee = UserFactory(email="new@example.com")
    client.force_login(invitee)
    response = client.post(f"/invitations/{services.invitation_token(invitation)}/")
    assert response.status_code == 400
    assert "withdrawn" in response.content.decode()


def test_anonymous_visitor_is_asked_to_sign_up_or_log_in(client, user, workspace):
    invitation = _invite(workspace, user)
    token = services.invitation_token(invitation)
    response = client.get(f"/invitations/{token}/")
    assert response.status_code == 200
    assert f"/accounts/signup/?invitation={quote(token)}" in response.content.decode()
    assert "/accounts/login/?next=" in response.content.decode()
