"""Fixtures for tests that run the real GPU worker as a subprocess (tests/e2e and
tests/faults import them into their conftest)."""

from __future__ import annotations

import importlib.util
import io
import os
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from generation import services
from tests.e2e.support import WorkerProcess, seed_styles, worker_landed
from tests.factories import MembershipFactory, UserFactory, checked_photo

# Generation quality means nothing on the tiny random set, so the tests spend as little
# CPU on it as they can: few denoising steps and no likeness retries (random weights
# score random likenesses, and retries would make an order's length vary).
FAST_WORKER_ARGS = ["--steps", "4", "--likeness-tries", "0"]
AUTO_WORKER_ID = object()


def worker_missing_reason() -> str | None:
    if not worker_landed():
        return "the gpu_worker command is not in this tree yet"
    for module in ("torch", "diffusers", "insightface", "onnxruntime"):
        if importlib.util.find_spec(module) is None:
            return f"the worker extra is not installed ({module} is missing)"
    return None


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """Built by the first worker that starts (the worker builds a missing tiny set
    itself), then shared by every worker of the session."""
    return tmp_path_factory.mktemp("tiny-models")


@pytest.fixture
def start_worker(transactional_db, tiny_model_dir, tmp_path, request):
    """start_worker() -> a running `manage.py gpu_worker --device cpu` on the tiny set.

    Every worker of one test shares a worker id unless told otherwise: a restarted
    worker has the same id as the one it replaces, as on a real GPU host. The workers
    see what the test committed, so the test runs on the transactional database, and
    they are stopped before its tables are flushed.
    """
    if reason := worker_missing_reason():
        pytest.skip(reason)
    workers: list[WorkerProcess] = []
    default_id = "e2e-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:60]

    def start(*, worker_id: str | None = None, env=None, args=None, wait_ready=True, log_name=None):
        """``worker_id=AUTO_WORKER_ID`` lets the worker pick its device's first free slot."""
        worker = WorkerProcess(
            model_dir=tiny_model_dir,
            log_path=tmp_path / (log_name or "worker.log"),
            worker_id=None if worker_id is AUTO_WORKER_ID else (worker_id or default_id),
            args=[*FAST_WORKER_ARGS, *(args or [])],
            env=env,
        )
        workers.append(worker)
        return worker.start(wait_ready=wait_ready)

    yield start
    for worker in workers:
        worker.stop()
    for log in sorted(tmp_path.glob("*.log")):
        # Shown by pytest with the failure report of the test, if it fails.
        print(f"--- worker log ({log}) ---\n{log.read_text(errors='replace')[-20000:]}")


def selfie_bytes(size: int = 768) -> bytes:
    """A real photograph of a face (Eileen Collins, NASA, shipped with scikit-image):
    the tiny face detector finds it, as the real one would."""
    from PIL import Image
    from skimage import data

    out = io.BytesIO()
    Image.fromarray(data.astronaut()).resize((size, size)).save(out, "JPEG", quality=92)
    return out.getvalue()


@pytest.fixture
def customer(transactional_db):
    """A verified customer with a free personal workspace, a selfie and the catalog."""
    seed_styles()
    membership = MembershipFactory(user=UserFactory())
    photo = services.photo_upload(
        workspace=membership.workspace,
        user=membership.user,
        upload=SimpleUploadedFile("selfie.jpg", selfie_bytes(), content_type="image/jpeg"),
    )
    return membership.workspace, membership.user, checked_photo(photo)


def env_without(*names: str) -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in names}


@pytest.fixture
def customer_to_check(transactional_db):
    """Like `customer`, but the selfie is as uploaded: its face check is queued and waits
    for a real GPU worker (tests.e2e.support.wait_photo_checked), which stores the real
    face analysis the order then reuses. Tests that run the worker use this one."""
    seed_styles()
    membership = MembershipFactory(user=UserFactory())
    photo = services.photo_upload(
        workspace=membership.workspace,
        user=membership.user,
        upload=SimpleUploadedFile("selfie.jpg", selfie_bytes(), content_type="image/jpeg"),
    )
    return membership.workspace, membership.user, photo
