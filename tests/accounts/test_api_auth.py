import pytest
from django.core import mail
from rest_framework.test import APIClient

from accounts.models import Membership, Role, User, Workspace
from tests.conftest import api_client_for
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def test_signup_creates_user_personal_workspace_and_sends_the_verification_email(
    django_capture_on_commit_callbacks,
):
    client = APIClient()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/auth/signup/",
            {"email": "Ada@Example.com", "password": "a-long-enough-passphrase"},
            format="json",
        )
    assert response.status_code == 201, response.content
    assert "token" not in response.json()
    assert response.json()["email"] == "ada@example.com"
    user = User.objects.get(email="ada@example.com")
    membership = Membership.objects.get(user=user)
    assert membership.role == Role.OWNER
    assert membership.workspace.kind == Workspace.Kind.PERSONAL
    assert [message.to for message in mail.outbox] == [["ada@example.com"]]
    assert "/accounts/confirm-email/" in mail.outbox[0].body


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"email": "not-an-email", "password": "a-long-enough-passphrase"}, "invalid"),
        ({"email": "x@example.com", "password": "123"}, "password_too_short"),
        ({"email": "x@example.com"}, "invalid"),
        ({}, "invalid"),
    ],
)
def test_signup_rejects_bad_input_with_a_clear_json_error(payload, code):
    response = APIClient().post("/api/v1/auth/signup/", payload, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert not User.objects.exists()


def test_a_taken_address_gets_the_same_answer_and_its_owner_an_email(
    django_capture_on_commit_callbacks,
):
    UserFactory(email="taken@example.com")
    answers = []
    for email in ("TAKEN@example.com", "fresh@example.com"):
        with django_capture_on_commit_callbacks(execute=True):
            response = APIClient().post(
                "/api/v1/auth/signup/",
                {"email": email, "password": "a-long-enough-passphrase"},
                format="json",
            )
        answers.append(
            (response.status_code, response.json()["detail"].replace(email.lower(), "EMAIL"))
        )
    assert answers[0] == answers[1]
    assert answers[0][0] == 201
    assert User.objects.filter(email__iexact="taken@example.com").count() == 1
    [to_owner] = [m for m in mail.outbox if m.to == ["taken@example.com"]]
    assert "already" in to_owner.body.lower()
    assert "/accounts/confirm-email/" not in to_owner.body


def test_signup_rejects_a_non_json_body_without_a_500():
    response = APIClient().post(
        "/api/v1/auth/signup/", "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_token_for_right_and_wrong_password():
    UserFactory(email="bo@example.com")
    good = APIClient().post(
        "/api/v1/auth/token/", {"email": "BO@example.com", "password": DEFAULT_PASSWORD}
    )
    assert good.status_code == 200
    me = APIClient()
    me.credentials(HTTP_AUTHORIZATION=f"Token {good.json()['token']}")
    assert me.get("/api/v1/me/").json()["email"] == "bo@example.com"

    bad = APIClient().post("/api/v1/auth/token/", {"email": "bo@example.com", "password": "nope"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_credentials"


def test_me_lists_workspaces_with_role_plan_and_entitlements(user, workspace):
    response = api_client_for(user).get("/api/v1/me/")
    assert response.status_code == 200
    body = response.json()
    assert body["email"] == user.email
    [entry] = body["workspaces"]
    assert entry["id"] == workspace.pk
    assert entry["role"] == "owner"
    assert entry["plan"] == "free"
    assert entry["entitlements"]["monthly_quota"] == 8
    assert entry["entitlements"]["resolution"] == 1024


def test_me_without_credentials_is_401_in_the_error_shape():
    response = APIClient().get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_create_and_list_team_workspaces(user, api):
    response = api.post("/api/v1/workspaces/", {"name": "Acme Corp"}, format="json")
    assert response.status_code == 201
    created = response.json()
    assert created["kind"] == "team"
    assert created["role"] == "owner"
    assert created["slug"].startswith("acme-corp-")
    listed = api.get("/api/v1/workspaces/").json()
    assert created["id"] in [entry["id"] for entry in listed]


def test_workspace_name_is_required(api):
    response = api.post("/api/v1/workspaces/", {"name": "   "}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"]
