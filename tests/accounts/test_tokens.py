"""Personal access tokens, and the account pre-hijacking story they close."""

import io
import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import PersonalAccessToken, User
from tests.conftest import api_client_for
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

ATTACKER_PASSWORD = "attacker-knows-this-one"
OWNER_PASSWORD = "the-owner-chose-this-one"


def _link(message, pattern: str) -> str:
    found = re.search(pattern, message.body)
    assert found, message.body
    return found.group(0)


def _token_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get("/dashboard/").status_code == 200
    return client


def _is_signed_out(client: Client) -> bool:
    response = client.get("/dashboard/")
    return response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_an_unverified_sign_up_gets_no_token_until_the_address_is_verified(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        signup = APIClient().post(
            "/api/v1/auth/signup/",
            {"email": "victim@example.com", "password": ATTACKER_PASSWORD},
            format="json",
        )
    assert signup.status_code == 201
    assert "token" not in signup.json()

    refused = APIClient().post(
        "/api/v1/auth/token/",
        {"email": "victim@example.com", "password": ATTACKER_PASSWORD},
        format="json",
    )
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "email_unverified"
    assert "link" in error["message"]
    assert not PersonalAccessToken.objects.exists()

    # The address's owner follows the emailed link; now the password gets a token.
    [verification] = mail.outbox
    link = _link(verification, r"http://testserver/accounts/confirm-email/\S+/")
    assert Client().post(link).status_code == 302
    granted = APIClient().post(
        "/api/v1/auth/token/",
        {"email": "victim@example.com", "password": ATTACKER_PASSWORD},
        format="json",
    )
    assert granted.status_code == 200
    assert _token_client(granted.json()["token"]).get("/api/v1/me/").status_code == 200


def _pre_hijacked_account(capture):
    """An account an attacker opened through the API with someone else's address, plus
    a token and a session of theirs (what the old sign-up handed out); the verification
    email sits in the real owner's inbox."""
    with capture(execute=True):
        APIClient().post(
            "/api/v1/auth/signup/",
            {"email": "victim@example.com", "password": ATTACKER_PASSWORD},
            format="json",
        )
    user = User.objects.get(email="victim@example.com")
    assert not EmailAddress.objects.get(user=user).verified
    _, token = PersonalAccessToken.objects.create(user=user, name="attacker")
    return user, token, _signed_in(user)


def test_the_owner_verifying_her_address_ends_the_attackers_token_and_session(
    django_capture_on_commit_callbacks,
):
    user, attacker_token, attacker_session = _pre_hijacked_account(
        django_capture_on_commit_callbacks
    )
    assert _token_client(attacker_token).get("/api/v1/me/").status_code == 200

    owner = Client()
    link = _link(mail.outbox[-1], r"http://testserver/accounts/confirm-email/\S+/")
    with django_capture_on_commit_callbacks(execute=True):
        assert owner.post(link).status_code == 302

    assert _token_client(attacker_token).get("/api/v1/me/").status_code == 401
    assert _is_signed_out(attacker_session)
    assert not PersonalAccessToken.objects.filter(user=user).exists()


def test_the_owner_resetting_the_password_ends_the_attackers_token_and_session(
    django_capture_on_commit_callbacks,
):
    user, attacker_token, attacker_session = _pre_hijacked_account(
        django_capture_on_commit_callbacks
    )
    owner = Client()
    with django_capture_on_commit_callbacks(execute=True):
        owner.post("/accounts/password/reset/", {"email": "victim@example.com"})
    link = _link(mail.outbox[-1], r"http://testserver/accounts/password/reset/key/\S+/")
    form_url = owner.get(link)["Location"]
    with django_capture_on_commit_callbacks(execute=True):
        done = owner.post(form_url, {"password1": OWNER_PASSWORD, "password2": OWNER_PASSWORD})
    assert done.status_code == 302, done.content

    assert _token_client(attacker_token).get("/api/v1/me/").status_code == 401
    assert _is_signed_out(attacker_session)


def test_a_password_change_revokes_every_token_and_ends_the_other_sessions(
    django_capture_on_commit_callbacks,
):
    user = UserFactory()
    tokens = [PersonalAccessToken.objects.create(user=user, name=n)[1] for n in ("ci", "laptop")]
    elsewhere = _signed_in(user)
    here = _signed_in(user)
    with django_capture_on_commit_callbacks(execute=True):
        changed = here.post(
            "/accounts/password/change/",
            {
                "oldpassword": DEFAULT_PASSWORD,
                "password1": OWNER_PASSWORD,
                "password2": OWNER_PASSWORD,
            },
        )
    assert changed.status_code == 302, changed.content

    for token in tokens:
        assert _token_client(token).get("/api/v1/me/").status_code == 401
    assert _is_signed_out(elsewhere)
    assert here.get("/dashboard/").status_code == 200


def test_tokens_are_named_listed_stored_hashed_shown_once_and_revoked(user):
    api = api_client_for(user)
    made = [api.post("/api/v1/auth/tokens/", {"name": n}, format="json") for n in ("CI", "Laptop")]
    assert [m.status_code for m in made] == [201, 201]
    secrets = [m.json()["token"] for m in made]
    assert all(s.startswith("hs_") for s in secrets)

    stored = PersonalAccessToken.objects.filter(user=user, name__in=["CI", "Laptop"])
    for token in stored:
        assert token.digest not in secrets and all(s not in token.digest for s in secrets)

    ci = _token_client(secrets[0])
    assert ci.get("/api/v1/me/").status_code == 200
    listed = api.get("/api/v1/auth/tokens/").json()
    by_name = {entry["name"]: entry for entry in listed}
    assert {"CI", "Laptop", "tests"} == set(by_name)
    assert by_name["CI"]["last_used_at"] is not None
    assert by_name["Laptop"]["last_used_at"] is None
    assert all("token" not in entry and "digest" not in entry for entry in listed)

    revoked = api.delete(f"/api/v1/auth/tokens/{by_name['CI']['id']}/")
    assert revoked.status_code == 204
    assert ci.get("/api/v1/me/").status_code == 401
    assert _token_client(secrets[1]).get("/api/v1/me/").status_code == 200


def test_another_persons_token_cannot_be_revoked(user, outsider):
    theirs, secret = PersonalAccessToken.objects.create(user=outsider, name="theirs")
    response = api_client_for(user).delete(f"/api/v1/auth/tokens/{theirs.pk}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert _token_client(secret).get("/api/v1/me/").status_code == 200


def test_a_token_needs_a_name(user):
    response = api_client_for(user).post("/api/v1/auth/tokens/", {"name": " "}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_the_account_page_makes_shows_once_and_revokes_tokens(user):
    browser = _signed_in(user)
    made = browser.post("/account/tokens/", {"name": "Zapier"})
    assert made.status_code == 200
    token = PersonalAccessToken.objects.get(user=user, name="Zapier")
    secret = re.search(r"hs_[0-9a-f]+", made.content.decode()).group(0)
    assert _token_client(secret).get("/api/v1/me/").status_code == 200

    page = browser.get("/account/tokens/").content.decode()
    assert "Zapier" in page and secret not in page

    assert browser.post(f"/account/tokens/{token.pk}/revoke/").status_code == 302
    assert _token_client(secret).get("/api/v1/me/").status_code == 401


def test_an_account_with_a_second_factor_gets_no_token_from_the_password_alone():
    from allauth.mfa.totp.internal.auth import TOTP

    person = UserFactory(email="careful@example.com")
    TOTP.activate(person, "JBSWY3DPEHPK3PXP")
    response = APIClient().post(
        "/api/v1/auth/token/",
        {"email": "careful@example.com", "password": DEFAULT_PASSWORD},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "mfa_required"
    assert not PersonalAccessToken.objects.filter(user=person).exists()


def test_a_password_set_by_staff_in_the_admin_revokes_the_persons_tokens(client):
    from tests.conftest import staff_signed_in

    person = UserFactory()
    _, token = PersonalAccessToken.objects.create(user=person, name="ci")
    staff_signed_in(client, UserFactory(is_staff=True, is_superuser=True))
    response = client.post(
        f"/admin/accounts/user/{person.pk}/password/",
        {"usable_password": "true", "password1": OWNER_PASSWORD, "password2": OWNER_PASSWORD},
    )
    assert response.status_code == 302, response.content
    assert _token_client(token).get("/api/v1/me/").status_code == 401


def test_a_password_set_outside_the_portal_revokes_the_persons_tokens(monkeypatch):
    """`manage.py changepassword` (or a shell) reaches only User.save."""
    person = UserFactory()
    _, token = PersonalAccessToken.objects.create(user=person, name="ci")
    answers = iter([OWNER_PASSWORD, OWNER_PASSWORD])
    monkeypatch.setattr(
        "django.contrib.auth.management.commands.changepassword.getpass.getpass",
        lambda prompt="": next(answers),
    )

    call_command("changepassword", person.email, stdout=io.StringIO())

    assert _token_client(token).get("/api/v1/me/").status_code == 401


def test_a_hash_upgrade_at_login_is_not_a_new_password_and_keeps_the_tokens(settings):
    person = UserFactory()
    person.set_password(OWNER_PASSWORD)
    person.save()
    _, token = PersonalAccessToken.objects.create(user=person, name="ci")
    # A stronger hasher first: the stored hash is upgraded at the next login.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
        *settings.PASSWORD_HASHERS,
    ]
    old_hash = person.password

    assert person.check_password(OWNER_PASSWORD)

    person.refresh_from_db()
    assert person.password != old_hash
    assert _token_client(token).get("/api/v1/me/").status_code == 200
