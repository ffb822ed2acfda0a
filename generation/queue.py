"""The GPU queue: how orders reach the GPU worker.

Design: two django-q2 broker lists (list keys), named in settings:

- ``settings.GPU_PRIORITY_QUEUE_NAME`` ("gpu-priority"): orders of workspaces whose
  entitlements have ``queue_priority == 0`` (paid plans);
- ``settings.GPU_QUEUE_NAME`` ("gpu"): everyone else (free).

The GPU worker polls them in the order ``gpu_queue_names()`` returns (priority first)
and takes from the second only when the first is empty, so paid work always goes
ahead of free work that has not started yet. Two lists rather than one sorted queue
because every django-q2 broker (ORM, Redis) is FIFO per list key.

A message is a django-q2 signed task package (``django_q.signing.SignedPackage``)
whose only argument is the order id: ``func == settings.GPU_TASK_FUNC``,
``args == (order_id,)``, ``kwargs == {}``. Everything else the worker needs it reads
from the database through generation.services, under select_for_update; redelivery
is harmless because ``order_mark_running`` refuses an order that is finished or
claimed by a live worker.

A face check of a freshly uploaded selfie is a message on the priority list with
``func == settings.GPU_PHOTO_CHECK_FUNC`` and ``args == (photo_id,)``: it is seconds of
work a customer is waiting for, so it never queues behind generation. Redelivery is
harmless: a photo already checked is left as it is.
"""

import logging

from django.conf import settings
from django_q.brokers import get_broker
from django_q.tasks import async_task

logger = logging.getLogger(__name__)


def gpu_queue_names() -> list[str]:
    """The broker list keys, in the order the GPU worker polls them."""
    return [settings.GPU_PRIORITY_QUEUE_NAME, settings.GPU_QUEUE_NAME]


def gpu_queue_for(queue_priority: int) -> str:
    names = gpu_queue_names()
    return names[min(max(queue_priority, 0), len(names) - 1)]


def enqueue_order(*, order_id: int, queue_name: str) -> str:
    """Send the order id to the named GPU broker list; returns django-q2's task id."""
    return async_task(
        settings.GPU_TASK_FUNC,
        order_id,
        broker=get_broker(queue_name),
        task_name=f"order-{order_id}",
        # Even where django-q2 runs tasks inline (Q_CLUSTER sync), GPU work belongs on
        # the GPU broker, never in the web process.
        sync=False,
    )


def enqueue_photo_check(*, photo_id: int) -> str:
    """Send a photo's face check to the priority list; returns django-q2's task id."""
    return async_task(
        settings.GPU_PHOTO_CHECK_FUNC,
        photo_id,
        broker=get_broker(settings.GPU_PRIORITY_QUEUE_NAME),
        task_name=f"photo-check-{photo_id}",
        sync=False,
    )


def is_photo_check(task: dict) -> bool:
    """Whether a decoded GPU message is a face check (else it is an order)."""
    return task.get("func") == settings.GPU_PHOTO_CHECK_FUNC
