import pytest
from django.db import connections
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory


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
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def api(user):
    return api_client_for(user)
