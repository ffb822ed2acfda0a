import base64
import hashlib
import hmac
import struct
import time

import pytest
from django.core.cache import cache
from django.db import connections
from rest_framework.test import APIClient

from accounts import staff
from accounts.models import PersonalAccessToken
from tests.factories import DEFAULT_PASSWORD, MembershipFactory, UserFactory, WorkspaceFactory


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """On SQLite the test database is a file, not in memory: the live tests (tests/e2e,
    tests/faults) start the GPU worker as a subprocess, which must open the same database."""
    db = connections["default"].settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3" and not db["TEST"].get("NAME"):
        db["TEST"]["NAME"] = str(tmp_path_factory.mktemp("db") / "test.sqlite3")


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    """Every test writes its files under its own temporary, private media root."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media"), "base_url": None},
        },
    }


@pytest.fixture(autouse=True)
def _emails_sent_inline(monkeypatch):
    """Queued tasks (emails) run inline, so a test reads what was sent in mail.outbox.
    GPU work is never inline: its enqueue says sync=False."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def workspace(db, user):
    return MembershipFactory(user=user).workspace


@pytest.fixture
def outsider(db):
    """A user with a workspace of their own who belongs nowhere else."""
    return MembershipFactory(workspace=WorkspaceFactory()).user


def api_client_for(user) -> APIClient:
    client = APIClient()
    _, token = PersonalAccessToken.objects.create(user=user, name="tests")
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def api(user):
    return api_client_for(user)


def totp_now(secret: str, at: float | None = None) -> str:
    """The code an authenticator app shows (RFC 6238)."""
    counter = int((at or time.time()) // 30)
    digest = hmac.new(base64.b32decode(secret), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def staff_totp_enrolled(user) -> str:
    """Sets the staff member's TOTP through an enrollment link; returns its secret."""
    token = staff.staff_enrollment_link(user=user).rstrip("/").rsplit("/", 1)[1]
    secret = staff.totp_secret_new()
    staff.staff_totp_enroll(token=token, secret=secret, code=totp_now(secret))
    forget_used_totp_codes()
    return secret


def forget_used_totp_codes() -> None:
    """A TOTP code counts once, and the enrollment used the current one: a person
    waits for the next code; a test forgets the used ones (they live in the cache)."""
    cache.clear()


def staff_signed_in(client, user, password: str = DEFAULT_PASSWORD):
    """Signs a staff member in as the admin demands: enrolled through a link, then the
    portal login with the password and the authenticator's code."""
    secret = staff_totp_enrolled(user)
    client.post("/accounts/login/", {"login": user.email, "password": password})
    answer = client.post("/accounts/2fa/authenticate/", {"code": totp_now(secret)})
    assert answer.status_code == 302, answer.content
    return client
