"""What the live tests (tests/e2e, tests/faults) share: the style catalog, mail links,
and the real GPU worker as a subprocess.

The worker runs exactly as in production (`manage.py gpu_worker --device cpu`) on the
tiny offline model set, against the test database the test process uses, so the web
side (pytest-django's live server, in this process) and the worker meet only through
the database, the broker and storage, as they do in production.
"""

from __future__ import annotations

import importlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import connection

REPO = Path(__file__).resolve().parents[2]


def seed_styles() -> None:
    """The catalog the seed migration creates. Transactional tests (the live server's)
    end by flushing every table, migration data included, so each live test puts the
    catalog back itself."""
    from generation.models import Style

    seed = importlib.import_module("generation.migrations.0002_seed_styles")
    for spec in seed.STYLES:
        Style.objects.get_or_create(slug=spec["slug"], defaults=spec)


def link_in(message, pattern: str) -> str:
    found = re.search(pattern, message.body)
    assert found, f"no link matching {pattern!r} in the mail:\n{message.body}"
    return found.group(0)


CONFIRM_LINK = r"https?://\S+/accounts/confirm-email/\S+/"


def api_sign_up(portal: str, mailoutbox, *, email: str, password: str) -> str:
    """An API client's first steps, as a customer takes them: sign up, follow the
    emailed link to verify the address, then ask for a token. Returns the token."""
    import requests

    sent_before = len(mailoutbox)
    signup = requests.post(
        f"{portal}/api/v1/auth/signup/", json={"email": email, "password": password}, timeout=30
    )
    assert signup.status_code == 201, signup.text
    assert "token" not in signup.json()
    [mail] = [m for m in mailoutbox[sent_before:] if m.to == [email]]
    browser = requests.Session()
    link = link_in(mail, CONFIRM_LINK)
    browser.get(link, timeout=30).raise_for_status()
    confirmed = browser.post(
        link,
        data={"csrfmiddlewaretoken": browser.cookies["csrftoken"]},
        headers={"Referer": link},
        timeout=30,
    )
    confirmed.raise_for_status()
    token = requests.post(
        f"{portal}/api/v1/auth/token/",
        json={"email": email, "password": password, "name": "e2e"},
        timeout=30,
    )
    assert token.status_code == 200, token.text
    return token.json()["token"]


def wait_for(condition: Callable[[], object], *, timeout: float, what: str, every: float = 0.2):
    """Poll until `condition()` is truthy and return it; fail saying what never happened."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def worker_landed() -> bool:
    return (REPO / "gpu_worker" / "management" / "commands" / "gpu_worker.py").exists() and (
        REPO / "gpu_worker" / "worker.py"
    ).exists()


def shared_database_url() -> str:
    """A DATABASE_URL for the database this test process is using (the test database)."""
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        user = db.get("USER") or "postgres"
        password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
        host = db.get("HOST") or "127.0.0.1"
        port = db.get("PORT") or 5432
        return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"
    name = str(db["NAME"])
    if name.startswith("file:") or name == ":memory:":
        raise RuntimeError("an in-memory SQLite test database cannot be shared with a subprocess")
    return f"sqlite:///{name}"


class WorkerProcess:
    """One `manage.py gpu_worker` subprocess; its output goes to a log file."""

    def __init__(
        self,
        *,
        model_dir: Path,
        log_path: Path,
        worker_id: str | None,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
    ):
        self.model_dir = model_dir
        self.log_path = log_path
        self.worker_id = worker_id
        self.args = args or []
        self.extra_env = env or {}
        self.process: subprocess.Popen | None = None
        self._log = None
        self._log_offset = 0

    def environment(self) -> dict[str, str]:
        env = {
            **os.environ,
            "DATABASE_URL": shared_database_url(),
            "DB_CONN_MAX_AGE": "0",
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "HEADSHOT_MODELS": "tiny",
            "HEADSHOT_MODEL_DIR": str(self.model_dir),
            # Worker ids are locked per host; a test's workers lock theirs in its own folder.
            "HEADSHOT_WORKER_LOCK_DIR": str(self.log_path.parent / "worker-locks"),
            "SITE_URL": settings.SITE_URL,
            "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
            "LOG_FORMAT": "plain",
            "PYTHONUNBUFFERED": "1",
        }
        # The web side of a test may point at a Redis broker; without it, the ORM broker.
        env.pop("REDIS_URL", None)
        env.update(self.extra_env)
        return env

    def start(self, *, wait_ready: bool = True) -> WorkerProcess:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        command = [sys.executable, "manage.py", "gpu_worker", "--device", "cpu"]
        if self.worker_id is not None:
            command += ["--worker-id", self.worker_id]
        command += self.args
        self.process = subprocess.Popen(
            command, cwd=REPO, env=self.environment(), stdout=self._log, stderr=subprocess.STDOUT
        )
        if wait_ready:
            self.wait_ready()
        return self

    def this_run_log(self) -> str:
        return self.log()[self._log_offset :]

    def wait_ready(self, timeout: float = 180) -> None:
        """Until the models are loaded and the queue loop runs (the first start of a
        session also builds the tiny model set)."""

        def ready() -> bool:
            if not self.alive():
                raise AssertionError(f"the GPU worker exited early:\n{self.this_run_log()}")
            found = re.search(r"worker (\S+) ready on", self.this_run_log())
            if found and self.worker_id is None:
                # The id it chose: the device's first free slot.
                self.worker_id = found.group(1)
            return found is not None and found.group(1) == self.worker_id

        wait_for(ready, timeout=timeout, what="the GPU worker to load its models")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill9(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self, timeout: float = 60) -> int | None:
        """SIGTERM (finish the current image, hand the rest back), then wait."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.process.returncode


def wait_photo_checked(photo, *, worker: WorkerProcess | None = None, timeout: float = 120):
    """Until the GPU worker's face check has passed the uploaded selfie, as a customer
    waits for "Face found" before ordering. Returns the photo, refreshed."""
    from generation.models import SourcePhoto

    def checked():
        if worker is not None and not worker.alive():
            raise AssertionError(f"the GPU worker exited:\n{worker.this_run_log()[-4000:]}")
        current = SourcePhoto.all_workspaces_unscoped.get(pk=photo.pk)
        assert current.check_status != "rejected", (current.check_error_code, current.check_message)
        return current if current.check_status == "ok" else None

    return wait_for(checked, timeout=timeout, what=f"the face check of photo {photo.pk}")
