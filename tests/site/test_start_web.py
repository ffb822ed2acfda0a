"""The production entry point: bin/start-web collects the static files, checks the
deploy settings and migrates before serving; a web process started without collected
static files refuses to start, saying what to run, instead of answering 500s."""

import http.client
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from django.conf import settings

from tests.site.test_first_run_settings import PRODUCTION, SETTING_VARIABLES

pytestmark = pytest.mark.slow


def production_env(tmp_path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        # The browser tests' DJANGO_ALLOW_ASYNC_UNSAFE, when they ran first in this
        # process, is refused by the deploy check, as it should be in production.
        if key
        not in SETTING_VARIABLES
        | {"DATABASE_URL", "REDIS_URL", "STATIC_ROOT", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    env.update(
        PRODUCTION,
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        MEDIA_ROOT=str(tmp_path / "media"),
        STATIC_ROOT=str(tmp_path / "static"),
        **extra,
    )
    return env


def test_a_web_process_without_collected_static_files_refuses_to_start(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", "import headshot_site.wsgi"],
        cwd=settings.BASE_DIR,
        env=production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "Static files are not collected in" in done.stderr
    assert "manage.py collectstatic --noinput" in done.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(port: int, path: str, **headers: str) -> tuple[int, str]:
    """One request, redirects not followed."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request(
            "GET", path, headers={k.replace("_", "-"): v for k, v in headers.items()}
        )
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_start_web_prepares_then_serves_with_debug_off(tmp_path):
    port = free_port()
    log = tmp_path / "start-web.log"
    with log.open("w") as output:
        web = subprocess.Popen(
            [str(settings.BASE_DIR / "bin" / "start-web")],
            env=production_env(tmp_path, PORT=str(port)),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            assert web.poll() is None, log.read_text()[-3000:]
            try:
                if get(port, "/healthz", Host="studio.example.com")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            raise AssertionError(log.read_text()[-3000:])
        assert (tmp_path / "static" / "staticfiles.json").exists()
        status, page = get(port, "/", Host="studio.example.com", X_Forwarded_Proto="https")
        assert status == 200, page[:500]
        # Linked through the manifest: hashed names, cacheable for ever.
        assert "/static/css/app." in page and "/static/css/app.css" not in page
        # Plain HTTP is sent to HTTPS in production.
        assert get(port, "/", Host="studio.example.com")[0] in (301, 302)
    finally:
        if web.poll() is None:
            os.killpg(web.pid, signal.SIGTERM)
            web.wait(timeout=30)
