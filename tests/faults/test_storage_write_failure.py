"""Storage refuses a write while a headshot is being saved.

Driven through the services exactly as the GPU worker drives them (the worker itself
imports torch, so it is exercised as a subprocess elsewhere): claim the order with
order_mark_running, store each headshot with headshot_create, and on an unexpected
error take the worker's error path, order_mark_failed(GENERATION_FAILED). The order
must end failed with its undelivered quota back, what was delivered before the failure
intact, and no half-written files left in storage.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.storage import FileSystemStorage, default_storage

from generation import selectors, services
from generation.models import ErrorCode, Order
from tests.faults.outcomes import assert_every_order_settled
from tests.generation.worker import headshot_image

pytestmark = pytest.mark.django_db

WORKER = "gpu-fault-storage"


class FlakyStorage(FileSystemStorage):
    """Local storage whose writes under headshots/ fail from the Nth on, as a full disk
    or an S3 outage would (FlakyStorage.fail_from: 1 = the first write)."""

    fail_from: int | None = None
    headshot_writes = 0

    def _save(self, name, content):
        if name.startswith("headshots/"):
            type(self).headshot_writes += 1
            if self.fail_from is not None and self.headshot_writes >= self.fail_from:
                raise OSError(28, "No space left on device")
        return super()._save(name, content)


@pytest.fixture
def flaky_storage(settings, tmp_path):
    FlakyStorage.fail_from = None
    FlakyStorage.headshot_writes = 0
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": f"{__name__}.FlakyStorage",
            "OPTIONS": {"location": str(tmp_path / "media"), "base_url": None},
        },
    }
    default_storage.exists("anything")  # set the lazy default storage up
    assert type(default_storage._wrapped) is FlakyStorage
    yield FlakyStorage
    FlakyStorage.fail_from = None


def run_like_the_worker(order: Order) -> Order:
    """GpuWorker.process_order's use of the services, minus the GPU."""
    claimed = services.order_mark_running(order_id=order.pk, worker_id=WORKER)
    assert claimed is not None
    try:
        for number, slot in enumerate(selectors.order_pending_slots(order=claimed)):
            services.headshot_create(
                order=claimed,
                style=slot.style,
                index=slot.index,
                seed=number,
                image=headshot_image(colour=(number * 40 % 255, 90, 120)),
                likeness=0.7,
            )
        return services.order_mark_succeeded(order=claimed)
    except Exception:
        # The worker's catch-all: the order fails, undelivered quota goes back.
        return services.order_mark_failed(
            order=claimed,
            code=ErrorCode.GENERATION_FAILED,
            message="The generator hit an internal error.",
        )


def stored_headshot_files(media: Path) -> list[str]:
    return sorted(
        str(path.relative_to(media)) for path in (media / "headshots").rglob("*") if path.is_file()
    )


@pytest.mark.parametrize(
    ("fail_from", "delivered"),
    [
        # The very first write (the first image itself) fails: nothing was delivered.
        (1, 0),
        # Image and thumbnail of the first headshot go through; the second headshot's
        # image is written and then its thumbnail fails: that image must not linger.
        (4, 1),
    ],
    ids=["first-write-fails", "fails-between-image-and-thumbnail"],
)
def test_a_failed_storage_write_fails_the_order_and_gives_back_what_was_not_delivered(
    flaky_storage, workspace, user, photo, free_style, second_free_style, fail_from, delivered
):
    order = services.order_create(
        workspace=workspace,
        user=user,
        photo=photo,
        style_slugs=[free_style.slug, second_free_style.slug],
        per_style=1,
    )
    flaky_storage.fail_from = fail_from

    finished = run_like_the_worker(order)

    assert finished.status == Order.Status.FAILED
    assert finished.error_code == ErrorCode.GENERATION_FAILED
    assert finished.error_hint  # the customer is told what to do
    assert flaky_storage.headshot_writes == fail_from  # the fault really hit
    [settled] = assert_every_order_settled(workspace, expect_delivered={order.pk: delivered})
    assert settled.quota_refunded == 2 - delivered
    # Exactly the delivered headshots' image and thumbnail are in storage: the write
    # that failed half-way left nothing behind.
    media = Path(default_storage.location)
    assert len(stored_headshot_files(media)) == 2 * delivered, stored_headshot_files(media)

    # A redelivered message for the failed order does nothing and charges nothing.
    assert services.order_mark_running(order_id=order.pk, worker_id="gpu-other") is None
    assert_every_order_settled(workspace, expect_delivered={order.pk: delivered})
