"""Password guessing: the API login counts against the same limits as the portal's,
throttles key on an address no client can choose, and every process shares the counts."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from tests.e2e.support import shared_database_url
from tests.factories import DEFAULT_PASSWORD, UserFactory

REPO = Path(__file__).resolve().parents[2]
TOKEN_URL = "/api/v1/auth/token/"


def _auth_throttle_limit() -> int:
    allowed, _ = ScopedRateThrottle().parse_rate(
        settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["auth"]
    )
    return allowed


def _token_request(client: APIClient, **extra):
    # An empty body is refused after the throttle has counted it, without a password hash.
    return client.post(TOKEN_URL, {}, format="json", **extra)


@pytest.mark.django_db
def test_a_new_x_forwarded_for_on_each_request_does_not_escape_the_throttle():
    client = APIClient()
    limit = _auth_throttle_limit()
    answers = [
        _token_request(client, HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").status_code
        for n in range(limit + 1)
    ]
    assert answers[:limit] == [400] * limit
    assert answers[limit] == 429
    assert _token_request(client).json()["error"]["code"] == "throttled"


@pytest.mark.django_db
def test_behind_one_trusted_proxy_only_the_address_it_reports_counts(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    client = APIClient()
    limit = _auth_throttle_limit()
    # The client writes whatever it likes in front; our proxy appends what it saw.
    answers = [
        _token_request(client, HTTP_X_FORWARDED_FOR=f"10.9.8.{n}, 203.0.113.7").status_code
        for n in range(limit + 1)
    ]
    assert answers[limit] == 429
    assert _token_request(client, HTTP_X_FORWARDED_FOR="203.0.113.8").status_code == 400


@pytest.mark.django_db
def test_after_the_portal_locks_an_account_the_api_login_is_locked_too(client):
    UserFactory(email="target@example.com")
    for _ in range(5):
        client.post(
            "/accounts/login/", {"login": "target@example.com", "password": "a-wrong-guess"}
        )
    locked = client.post(
        "/accounts/login/", {"login": "target@example.com", "password": DEFAULT_PASSWORD}
    )
    assert "Too many failed login attempts" in locked.content.decode()

    response = APIClient().post(
        TOKEN_URL, {"email": "target@example.com", "password": DEFAULT_PASSWORD}, format="json"
    )
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "too_many_login_attempts"


@pytest.mark.django_db
def test_failed_api_logins_lock_the_account_as_the_portal_does():
    UserFactory(email="target@example.com")
    api = APIClient()
    for _ in range(5):
        wrong = {"email": "target@example.com", "password": "a-wrong-guess"}
        assert api.post(TOKEN_URL, wrong, format="json").status_code == 400
    right = {"email": "target@example.com", "password": DEFAULT_PASSWORD}
    assert api.post(TOKEN_URL, right, format="json").status_code == 429


CONSUME_IN_ANOTHER_PROCESS = """
import json, django
django.setup()
from rest_framework.test import APIClient
client = APIClient()
print(json.dumps([client.post("/api/v1/auth/token/", {}, format="json").status_code
                  for _ in range(%d)]))
"""


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_second_web_process_sees_the_same_throttle_counts():
    assert settings.CACHES["default"]["BACKEND"].endswith(("DatabaseCache", "RedisCache"))
    limit = _auth_throttle_limit()
    other = subprocess.run(
        [sys.executable, "-c", CONSUME_IN_ANOTHER_PROCESS % limit],
        cwd=REPO,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "headshot_site.settings",
            "DATABASE_URL": shared_database_url(),
            "DB_CONN_MAX_AGE": "0",
            **({"REDIS_URL": settings.REDIS_URL} if settings.REDIS_URL else {}),
            "LOG_LEVEL": "ERROR",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert other.returncode == 0, other.stderr
    assert json.loads(other.stdout.strip().splitlines()[-1]) == [400] * limit
    assert _token_request(APIClient()).status_code == 429


PROXY_SETTINGS = """
from django.conf import settings
print(settings.SECURE_PROXY_SSL_HEADER, settings.REST_FRAMEWORK["NUM_PROXIES"],
      settings.ALLAUTH_TRUSTED_PROXY_COUNT)
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("count", "expected"),
    [("0", "None 0 0"), ("2", "('HTTP_X_FORWARDED_PROTO', 'https') 2 2")],
)
def test_x_forwarded_proto_is_trusted_only_behind_trusted_proxies(count, expected):
    from tests.accounts.test_portal import PRODUCTION

    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", PROXY_SETTINGS],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", **PRODUCTION, "TRUSTED_PROXY_COUNT": count},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == expected


@pytest.mark.slow
def test_a_plain_migrate_makes_the_database_cache_table(tmp_path):
    database = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": database, "LOG_LEVEL": "ERROR"}
    migrate = [sys.executable, "manage.py", "migrate", "-v0"]
    assert subprocess.run(migrate, cwd=REPO, env=env, timeout=300).returncode == 0
    use_cache = (
        "from django.core.cache import caches; cache = caches['default']; cache.set('k', 'shared', 60); "
        "print(type(cache).__name__, cache.get('k'))"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", use_cache],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "DatabaseCache shared"
