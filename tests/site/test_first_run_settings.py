"""What a fresh clone gets with no variables, read by a fresh interpreter each time
(settings are read once per process, from the environment)."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "a-production-secret-key-for-this-test-only-0123456789",
    "ALLOWED_HOSTS": "studio.example.com",
    "PHOTO_ENCRYPTION_KEYS": "cHJvZHVjdGlvbi1rZXktZm9yLXRoaXMtdGVzdC0wMDA=",
}
SETTING_VARIABLES = {"DEBUG", "SITE_URL", "HOST", "PORT", "LOG_FORMAT", *PRODUCTION}


def run_python(code: str, **environment: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in SETTING_VARIABLES}
    env.update(environment, DJANGO_SETTINGS_MODULE="headshot_site.settings")
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def site_url(**environment: str) -> str:
    done = run_python("from headshot_site import settings; print(settings.SITE_URL)", **environment)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"PORT": "8621"}, "http://127.0.0.1:8621"),
        ({"HOST": "localhost", "PORT": "8621"}, "http://localhost:8621"),
        # A wildcard bind address is not somewhere to send a person.
        ({"HOST": "0.0.0.0", "PORT": "9000"}, "http://127.0.0.1:9000"),
        ({"HOST": "::1", "PORT": "9000"}, "http://[::1]:9000"),
        ({"PORT": "8621", "SITE_URL": "https://studio.example.com/"}, "https://studio.example.com"),
    ],
)
def test_links_in_emails_follow_what_make_run_serves_unless_site_url_is_set(environment, expected):
    assert site_url(**environment) == expected


LOG_ONE_LINE = (
    "import django, logging; django.setup(); "
    "logging.getLogger('generation.services').warning('order 7 is late', extra={'order_id': 7})"
)


def test_development_logs_are_plain_lines_for_people():
    done = run_python(LOG_ONE_LINE)
    assert done.returncode == 0, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.endswith("WARNING generation.services: order 7 is late  [order_id=7]"), line
    assert not line.startswith("{")


def test_production_logs_stay_json_and_development_can_ask_for_json():
    for environment in (PRODUCTION, {"LOG_FORMAT": "json"}):
        done = run_python(LOG_ONE_LINE, **environment)
        assert done.returncode == 0, done.stderr
        entry = json.loads(done.stderr.strip().splitlines()[-1])
        assert entry["message"] == "order 7 is late"
        assert entry["order_id"] == 7
        assert entry["level"] == "WARNING"


def test_an_unknown_log_format_is_refused_by_name():
    done = run_python("import django; django.setup()", LOG_FORMAT="xml")
    assert done.returncode != 0
    assert "LOG_FORMAT must be 'plain' or 'json'" in done.stderr
