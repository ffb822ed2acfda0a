import re
import subprocess
import sys

import pytest
from django.core import mail

from accounts.models import Membership, User, Workspace

pytestmark = pytest.mark.django_db


def test_landing_page_explains_the_product(client):
    response = client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "one selfie" in page
    assert "/accounts/signup/" in page


def test_signup_verify_login_and_create_a_team(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/accounts/signup/",
            {
                "email": "carol@example.com",
                "password1": "a-long-enough-passphrase",
                "password2": "a-long-enough-passphrase",
            },
        )
    assert response.status_code == 302
    user = User.objects.get(email="carol@example.com")
    assert Membership.objects.get(user=user).workspace.kind == Workspace.Kind.PERSONAL

    # Verification is mandatory: logging in before it sends the person to confirm.
    link = re.search(r"http://\S+/accounts/confirm-email/\S+/", mail.outbox[-1].body).group(0)
    path = link.split("testserver", 1)[-1] if "testserver" in link else "/" + link.split("/", 3)[3]
    assert client.post(path).status_code == 302

    client.logout()
    login = client.post(
        "/accounts/login/", {"login": "carol@example.com", "password": "a-long-enough-passphrase"}
    )
    assert login.status_code == 302
    dashboard = client.get("/dashboard/")
    assert dashboard.status_code == 200
    assert "Personal" in dashboard.content.decode()

    created = client.post("/dashboard/", {"name": "Carol's Agency"})
    assert created.status_code == 302
    team = Workspace.objects.get(kind=Workspace.Kind.TEAM)
    assert created["Location"] == f"/w/{team.slug}/members/"


def test_duplicate_portal_signup_shows_an_error_not_a_500(client):
    data = {
        "email": "dup@example.com",
        "password1": "a-long-enough-passphrase",
        "password2": "a-long-enough-passphrase",
    }
    client.post("/accounts/signup/", data)
    client.logout()
    response = client.post("/accounts/signup/", data)
    assert response.status_code in (200, 302)
    assert User.objects.filter(email="dup@example.com").count() == 1


def test_malformed_email_on_portal_signup_is_a_form_error(client):
    response = client.post(
        "/accounts/signup/",
        {
            "email": "nope",
            "password1": "a-long-enough-passphrase",
            "password2": "a-long-enough-passphrase",
        },
    )
    assert response.status_code == 200
    assert "valid email" in response.content.decode()
    assert not User.objects.exists()


def test_dashboard_needs_login(client):
    response = client.get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def _settings_check(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "x" * 64 + "-production-secret-for-the-check-only",
    "ALLOWED_HOSTS": "headshots.example.com",
    "PHOTO_ENCRYPTION_KEYS": "cHJvZHVjdGlvbi1rZXktZm9yLXRoZS1jaGVjay0zMmI=",
    "DATABASE_URL": "sqlite:////tmp/check.sqlite3",
}


def test_production_settings_pass_check_deploy_without_warnings():
    result = _settings_check(PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "PHOTO_ENCRYPTION_KEYS"])
def test_production_settings_refuse_to_start_without_secrets(missing):
    env = {key: value for key, value in PRODUCTION.items() if key != missing}
    result = _settings_check(env)
    assert result.returncode != 0
    assert missing in result.stderr
