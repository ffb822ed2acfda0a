"""The GPU worker: one long-lived process per GPU, models warm in memory.

It takes order ids from the two GPU broker lists (paid first, see generation.queue),
and does everything else through generation's services:

- ``order_mark_running`` claims the order under a row lock; a redelivered message for
  an order that is finished, or held by another live worker, does nothing.
- Only the slots still empty are generated (``order_pending_slots``), and each
  headshot fills a unique slot, so a crash and a redelivery end with exactly the
  ordered number of headshots.
- A heartbeat thread keeps the claim alive while the GPU is busy; if the claim is
  lost (another worker took over a silent order) this worker stops after the batch.
- SIGTERM lets the current batch finish and be stored, then hands the rest back.
- A restarted worker (same host, device and slot, so the same worker id) hands back
  at once whatever its previous incarnation was holding when it died. Each live
  process holds its id under a lock (``claim_worker_id``), so two processes on one
  device never share an id, and so never hand back or take over each other's orders.
- After an unexpected error the device is checked; a broken one (a sticky CUDA error)
  hands the order back unfailed and stops the worker (``DeviceBroken``), for its
  supervisor to restart it on a fresh CUDA context.

Job types: ``handle_message`` turns a queue message into an order id and
``process_order`` does that order's work; a second kind of job gets its own
``process_*`` method, dispatched from ``handle_message``, and shares the loop, the
broker lists and the device check (``_check_device_after``), as
``process_photo_check`` does.
"""

from __future__ import annotations

import fcntl
import io
import logging
import os
import re
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from django.core.exceptions import ValidationError
from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections
from django.db import connection as db_connection
from django.utils import timezone
from PIL import Image

from generation import services
from generation.models import Order
from generation.queue import (
    QUEUE_UNAVAILABLE,
    GpuJobKind,
    GpuMessage,
    GpuQueueReader,
    enqueue_photo_check,
)
from generation.selectors import HeadshotSlot, order_pending_slots
from gpu_worker.photo_check import check_photo
from gpu_worker.pipeline.engine import Face, HeadshotEngine, PipelineError
from gpu_worker.pipeline.faces import face_from_bytes, face_to_bytes

logger = logging.getLogger("gpu_worker")
_current_order_id: ContextVar[int | None] = ContextVar("current_order_id", default=None)


class _OrderIdFilter(logging.Filter):
    """Stamps the order being worked on onto every `gpu_worker` line, the engine's
    stage timings included, so one order's story can be pulled out of the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        order_id = _current_order_id.get()
        if order_id is not None and not hasattr(record, "order_id"):
            record.order_id = order_id
        return True


logger.addFilter(_OrderIdFilter())

# A database blip (a restart, a failover) is retried on the same order this many
# times before the message is left for redelivery.
DATABASE_RETRIES = 5
# A broker that is briefly away (generation.queue.QUEUE_UNAVAILABLE): the worker waits
# this long and asks again; its models stay warm.
QUEUE_RETRY_SECONDS = 1.0


@dataclass(frozen=True)
class WorkerOptions:
    steps: int = 30
    guidance: float = 5.0
    likeness_threshold: float = 0.35
    likeness_tries: int = 2
    # How long an idle worker waits between looks at a polled broker (the ORM one).
    poll_seconds: float = 0.1
    heartbeat_seconds: float = 10.0


class _ClaimLost(Exception):
    """The order is no longer this worker's (finished elsewhere, or taken over)."""


class _Stopping(Exception):
    """SIGTERM arrived: the current batch is stored, the rest goes back to the queue."""


class DeviceBroken(RuntimeError):
    """The device no longer runs kernels; only a new process (a new CUDA context) can
    use it again. The order in hand was given back unfailed."""


class WorkerIdInUse(RuntimeError):
    """Another live process on this host already runs under the worker id asked for."""


# How many worker processes may share one device before the next one is refused.
MAX_SLOTS_PER_DEVICE = 16


def default_worker_id(device: str, slot: int = 1) -> str:
    base = f"{socket.gethostname()}:{device}"
    return base if slot == 1 else f"{base}#{slot}"


@dataclass
class WorkerIdClaim:
    """A worker id held by this process for as long as it lives (an ``flock`` that the
    kernel drops when the process dies, however it dies)."""

    worker_id: str
    lock_file: IO[str]

    def release(self) -> None:
        self.lock_file.close()


def _try_lock(lock_dir: Path, worker_id: str) -> IO[str] | None:
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_dir / (re.sub(r"[^A-Za-z0-9_.-]+", "_", worker_id) + ".lock")
    lock_file = path.open("a")
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_file.close()
        return None
    return lock_file


def claim_worker_id(*, device: str, lock_dir: Path, worker_id: str | None = None) -> WorkerIdClaim:
    """This process's worker id, locked so that no other live process on the host has it.

    Without an explicit id, the first free slot of the device: ``host:cuda:0``, then
    ``host:cuda:0#2``... A restarted worker finds its old slot free again and takes it,
    so it hands back what its previous incarnation held; a second process on the same
    device gets the next slot and leaves the first one's orders alone. An explicit id
    that is taken is refused.
    """
    if worker_id is not None:
        lock_file = _try_lock(lock_dir, worker_id)
        if lock_file is None:
            raise WorkerIdInUse(
                f"another worker process on this host is running as {worker_id!r}; "
                "stop it, or give this one another --worker-id"
            )
        return WorkerIdClaim(worker_id, lock_file)
    for slot in range(1, MAX_SLOTS_PER_DEVICE + 1):
        candidate = default_worker_id(device, slot)
        lock_file = _try_lock(lock_dir, candidate)
        if lock_file is not None:
            return WorkerIdClaim(candidate, lock_file)
    raise WorkerIdInUse(f"{MAX_SLOTS_PER_DEVICE} worker processes already run on {device}")


def _requeue_photo_check(photo_id: int) -> None:
    # With the broker away too, the photo stays waiting to be checked, as after an
    # upload whose check could not be queued: the studio says so.
    try:
        enqueue_photo_check(photo_id=photo_id)
    except Exception:
        logger.exception("photo check %s could not be queued again", photo_id)


class GpuWorker:
    def __init__(
        self,
        *,
        engine: HeadshotEngine,
        device: str,
        model_set: str,
        worker_id: str | None = None,
        options: WorkerOptions | None = None,
    ) -> None:
        self.engine = engine
        self.device = device
        self.model_set = model_set
        self.worker_id = worker_id or default_worker_id(device)
        self.options = options or WorkerOptions()
        self.queue = GpuQueueReader()
        self.started_at: datetime = timezone.now()
        self.stopping = threading.Event()
        self.current_order_id: int | None = None
        self._last_status_at = 0.0

    # The loop -------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        def request_stop(signum, frame) -> None:
            logger.info("signal %s: finishing the current image, then stopping", signum)
            self.stopping.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)

    def run(self, *, max_orders: int | None = None) -> int:
        """Take orders until stopped (or until ``max_orders`` messages were handled)."""
        handled = 0
        services.order_finished_email_prepare()
        released = services.orders_release_for_worker(worker_id=self.worker_id)
        if released:
            logger.info("handed back %d orders held by this worker before a restart", released)
        logger.info(
            "worker %s ready on %s with the %s model set",
            self.worker_id,
            self.device,
            self.model_set,
        )
        try:
            while not self.stopping.is_set() and (max_orders is None or handled < max_orders):
                self._report_status(force=False)
                try:
                    message = self.queue.take(
                        wait=self.stopping.wait, poll_seconds=self.options.poll_seconds
                    )
                except QUEUE_UNAVAILABLE:
                    self._queue_unavailable()
                    continue
                if message is None:
                    continue
                try:
                    self.handle_message(message)
                except DeviceBroken:
                    raise
                except Exception:
                    # A bug in one job must not stop the generator for everyone: the
                    # supervisor restarts only a broken device (exit 3). What the job
                    # held is recovered like a lost worker's, by the scheduler.
                    logger.exception("a GPU job failed unexpectedly; taking the next one")
                try:
                    self.queue.acknowledge(message)
                except QUEUE_UNAVAILABLE:
                    # Unacknowledged, the message comes back after the broker's retry
                    # time, and a finished order's redelivery does nothing.
                    logger.warning("could not acknowledge a queue message", exc_info=True)
                handled += 1
        finally:
            close_old_connections()
            try:
                services.worker_stopped(worker_id=self.worker_id)
            except DatabaseError:
                logger.warning("could not record the worker's stop", exc_info=True)
        return handled

    def _queue_unavailable(self) -> None:
        logger.warning(
            "the queue is unavailable; asking again in %.0f s", QUEUE_RETRY_SECONDS, exc_info=True
        )
        db_connection.close()
        self.stopping.wait(QUEUE_RETRY_SECONDS)

    def handle_message(self, message: GpuMessage) -> None:
        job = message.job()
        if job is None:
            logger.error("dropping a GPU queue message that is neither an order nor a check")
            return
        if job.kind == GpuJobKind.PHOTO_CHECK:
            self.process_photo_check(job.object_id)
            return
        order_id = job.object_id
        for attempt in range(1, DATABASE_RETRIES + 1):
            try:
                self.process_order(order_id)
                return
            except (OperationalError, InterfaceError):
                # The database went away mid-order. Nothing is lost: what was stored is
                # in its slots, and the claim is still ours, so the same order resumes.
                logger.warning(
                    "database unavailable (attempt %d of %d)",
                    attempt,
                    DATABASE_RETRIES,
                    extra={"order_id": order_id},
                    exc_info=True,
                )
                db_connection.close()
                time.sleep(min(2**attempt, 30))
        logger.error("giving the order back to recovery", extra={"order_id": order_id})

    # One order --------------------------------------------------------------------------

    def process_order(self, order_id: int) -> None:
        close_old_connections()
        order = services.order_mark_running(order_id=order_id, worker_id=self.worker_id)
        if order is None:
            logger.info("nothing to do: finished or held elsewhere", extra={"order_id": order_id})
            return
        log = logging.LoggerAdapter(logger, {"order_id": order.pk})
        self.current_order_id = order.pk
        order_context = _current_order_id.set(order.pk)
        self._report_status(force=True)
        started = time.perf_counter()
        try:
            with self._heartbeat(order) as claim_lost:
                self._generate_order(order, log, claim_lost)
            services.order_mark_succeeded(order=order)
            log.info("order done in %.1f s", time.perf_counter() - started)
        except _Stopping:
            services.order_release(order=order, worker_id=self.worker_id)
            log.info("stopping: order handed back to the queue")
        except _ClaimLost:
            log.warning("order is no longer this worker's; left to its new owner")
        except Order.DoesNotExist:
            # Its account or workspace was deleted meanwhile, headshots and all.
            log.info("the order was deleted while it was being made; nothing left to do")
        except services.PhotoUnavailable:
            services.order_mark_failed(
                order=order,
                code=services.ErrorCode.PHOTO_UNAVAILABLE,
                message="Your selfie was deleted before we could use it.",
            )
            log.info("failed: the selfie is gone")
        except PipelineError as error:
            services.order_mark_failed(order=order, code=error.code, message=error.message)
            log.info("failed: %s", error.code)
        except (OperationalError, InterfaceError):
            raise
        except Exception:
            self._check_device_after(
                log,
                what="order",
                hand_back=lambda: services.order_release(
                    order=order, worker_id=self.worker_id, counts_as_attempt=True
                ),
            )
            log.exception("generation failed")
            try:
                services.order_mark_failed(
                    order=order,
                    code=services.ErrorCode.GENERATION_FAILED,
                    message="The generator hit an internal error.",
                )
            except Order.DoesNotExist:
                log.info("the failed order was deleted meanwhile")
        finally:
            _current_order_id.reset(order_context)
            self.current_order_id = None
            self._report_status(force=True)

    def _check_device_after(
        self,
        log: logging.Logger | logging.LoggerAdapter,
        *,
        what: str,
        hand_back: Callable[[], object],
    ) -> None:
        """Called in an ``except`` block after an error that is not about the user's photo:
        raise DeviceBroken, with the job (``what``) handed back unfailed by ``hand_back``,
        if the error came from a device that no longer works: failing the job would fail
        every later one too."""
        if self.engine.device_works():
            return
        log.critical(
            "the device %s no longer works; handing the %s back and stopping the worker "
            "for a restart",
            self.device,
            what,
            exc_info=True,
        )
        hand_back()
        raise DeviceBroken(
            f"{self.device} no longer works (see the error logged before); "
            f"the {what} in hand went back to the queue"
        )

    # One photo check ------------------------------------------------------------------

    def process_photo_check(self, photo_id: int) -> None:
        """The face check of one uploaded photo (gpu_worker.photo_check). A check that
        cannot finish leaves the photo pending; if the device broke, the check goes back
        to the queue and the worker stops (DeviceBroken), as for an order."""
        check_photo(
            engine=self.engine,
            photo_id=photo_id,
            after_error=lambda: self._check_device_after(
                logger,
                what="photo check",
                hand_back=lambda: _requeue_photo_check(photo_id),
            ),
        )

    def _generate_order(
        self, order, log: logging.LoggerAdapter, claim_lost: threading.Event
    ) -> None:
        face = self._face_for(order, log)
        by_style: dict[int, list[HeadshotSlot]] = {}
        for slot in order_pending_slots(order=order):
            by_style.setdefault(slot.style.pk, []).append(slot)
        total_styles = len(by_style)
        for number, slots in enumerate(by_style.values(), start=1):
            if self.stopping.is_set():
                raise _Stopping
            if claim_lost.is_set():
                raise _ClaimLost
            style = slots[0].style
            self._progress(order, f"Creating {style.name} ({number} of {total_styles})")
            for slot, image, likeness, seconds in self._render_style(order, face, slots, log):
                seed = image.info["seed"]
                if order.resolution > image.width:
                    upscale_started = time.perf_counter()
                    image = self.engine.upscale(image)
                    seconds += time.perf_counter() - upscale_started
                try:
                    services.headshot_create(
                        order=order,
                        style=slot.style,
                        index=slot.index,
                        seed=seed,
                        image=image,
                        likeness=likeness,
                        generation_seconds=seconds,
                    )
                except ValidationError as error:
                    if error.code == "order_not_running":
                        raise _ClaimLost from error
                    raise

    def _face_for(self, order, log: logging.LoggerAdapter) -> Face:
        photo = order.photo
        if photo is None:
            raise services.PhotoUnavailable("The order's selfie was purged.")
        stored = services.photo_read_face_data(photo=photo)
        if stored is not None:
            return face_from_bytes(stored)
        self._progress(order, "Finding your face")
        selfie = Image.open(io.BytesIO(services.photo_read_image(photo=photo))).convert("RGB")
        face = self.engine.analyze_face(selfie)
        services.photo_store_face_data(photo=photo, face_data=face_to_bytes(face))
        log.info("face found: %d px, score %.2f", face.pixels, face.det_score)
        return face

    def _render_style(
        self, order, face: Face, slots: list[HeadshotSlot], log: logging.LoggerAdapter
    ) -> Iterator[tuple[HeadshotSlot, Image.Image, float | None, float]]:
        """Each slot's best image: one batched call, then new seeds for weak likenesses."""
        style = slots[0].style
        best: dict[int, tuple[Image.Image, float | None]] = {}
        spent = 0.0
        waiting = list(slots)
        for attempt in range(1 + self._likeness_tries()):
            if attempt:
                self._progress(order, f"Refining {style.name} for a closer likeness")
            seeds = [secrets.randbelow(2**31) for _ in waiting]
            started = time.perf_counter()
            images = self.engine.generate(
                face=face,
                prompt=style.prompt,
                negative_prompt=style.negative_prompt,
                seeds=seeds,
                num_inference_steps=self.options.steps,
                guidance_scale=self.options.guidance,
            )
            scores = [self.engine.likeness(face=face, image=image) for image in images]
            spent += time.perf_counter() - started
            still_weak = []
            for slot, image, score in zip(waiting, images, scores, strict=True):
                previous = best.get(slot.index)
                if previous is None or (score or -1.0) > (previous[1] or -1.0):
                    best[slot.index] = (image, score)
                if not self._likeness_ok(best[slot.index][1]):
                    still_weak.append(slot)
            if still_weak and attempt < self._likeness_tries():
                log.info(
                    "%d of %d %s images under the likeness threshold; new seeds",
                    len(still_weak),
                    len(waiting),
                    style.slug,
                )
            waiting = still_weak
            if not waiting or self.stopping.is_set():
                break
        per_image = spent / len(slots)
        for slot in slots:
            image, score = best[slot.index]
            yield slot, image, score, per_image

    def _likeness_tries(self) -> int:
        # The demo set's images carry a stamp over random pixels: no new seed can make
        # them look like the selfie, so retries would only triple the wait. The score
        # is still recorded.
        return 0 if self.engine.is_tiny else self.options.likeness_tries

    def _likeness_ok(self, score: float | None) -> bool:
        threshold = self.options.likeness_threshold
        return threshold <= 0 or (score is not None and score >= threshold)

    # Liveness ---------------------------------------------------------------------------

    def _progress(self, order, stage: str) -> None:
        if not services.order_record_progress(order=order, worker_id=self.worker_id, stage=stage):
            raise _ClaimLost

    @contextmanager
    def _heartbeat(self, order) -> Iterator[threading.Event]:
        """Beat for the order (and the worker) while the GPU is busy in this thread."""
        done = threading.Event()
        claim_lost = threading.Event()

        def beat() -> None:
            try:
                while not done.wait(self.options.heartbeat_seconds):
                    try:
                        if not services.order_heartbeat(order=order, worker_id=self.worker_id):
                            claim_lost.set()
                        self._report_status(force=True)
                    except DatabaseError:
                        logger.warning("heartbeat failed", extra={"order_id": order.pk})
                        db_connection.close()
            finally:
                db_connection.close()

        thread = threading.Thread(target=beat, name=f"heartbeat-{order.pk}", daemon=True)
        thread.start()
        try:
            yield claim_lost
        finally:
            done.set()
            thread.join()

    def _report_status(self, *, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last_status_at < self.options.heartbeat_seconds:
            return
        self._last_status_at = now
        try:
            services.worker_heartbeat(
                worker_id=self.worker_id,
                hostname=socket.gethostname(),
                pid=os.getpid(),
                device=self.device,
                model_set=self.model_set,
                started_at=self.started_at,
                current_order_id=self.current_order_id,
            )
        except DatabaseError:
            logger.warning("could not record the worker's heartbeat")
            db_connection.close()
