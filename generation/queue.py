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
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import redis
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django_q.brokers import Broker, get_broker
from django_q.brokers.orm import ORM as OrmBroker
from django_q.brokers.redis_broker import Redis as RedisBroker
from django_q.conf import Conf
from django_q.signing import BadSignature, SignedPackage
from django_q.tasks import async_task

logger = logging.getLogger(__name__)


def gpu_queue_names() -> list[str]:
    """The broker list keys, in the order the GPU worker polls them."""
    return [settings.GPU_PRIORITY_QUEUE_NAME, settings.GPU_QUEUE_NAME]


def watched_queue_names() -> list[str]:
    """The broker lists worth watching: the GPU lists, then the cluster's own list
    (the schedules: purge, stale-order recovery, emails)."""
    return [*gpu_queue_names(), Conf.CLUSTER_NAME]


def queue_size(name: str) -> int:
    """Messages waiting on the named broker list. Raises when the broker does not
    answer (QUEUE_UNAVAILABLE, or whatever else its client raises)."""
    return int(get_broker(name).queue_size())


def broker_answers() -> bool:
    """Whether the cluster's broker answers a ping."""
    return bool(get_broker().ping())


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


# The broker did not answer: Redis is down, or the database behind the ORM broker is.
QUEUE_UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError, OperationalError, InterfaceError)


class GpuJobKind(StrEnum):
    ORDER = "order"
    PHOTO_CHECK = "photo_check"


@dataclass(frozen=True)
class GpuJob:
    kind: GpuJobKind
    object_id: int


@dataclass(frozen=True)
class GpuMessage:
    """A message taken off a GPU list, to acknowledge once its work is done."""

    broker: Broker
    ack_id: object
    payload: str

    def job(self) -> GpuJob | None:
        """What the message asks for; None for one that is not ours (bad signature or
        shape), which the worker drops."""
        try:
            task = SignedPackage.loads(self.payload)
            object_id = int(task["args"][0])
        except (BadSignature, KeyError, IndexError, TypeError, ValueError):
            return None
        if task.get("func") == settings.GPU_PHOTO_CHECK_FUNC:
            return GpuJob(GpuJobKind.PHOTO_CHECK, object_id)
        return GpuJob(GpuJobKind.ORDER, object_id)


class GpuQueueReader:
    """The GPU worker's side of the lists: take the next message, paid list first.

    Raises one of QUEUE_UNAVAILABLE when the broker does not answer.
    """

    def __init__(self) -> None:
        self.brokers = [get_broker(name) for name in gpu_queue_names()]

    def take(self, *, wait: Callable[[float], object], poll_seconds: float) -> GpuMessage | None:
        """The next message, or None after waiting a little (`wait(seconds)`, which a
        stopping worker cuts short) when both lists are empty."""
        # Redis can wait on both lists at once and still honour their order; the other
        # brokers are asked one after the other, paid list first.
        if all(isinstance(broker, RedisBroker) for broker in self.brokers):
            found = self.brokers[0].connection.blpop(
                [broker.list_key for broker in self.brokers], timeout=1
            )
            if not found:
                return None
            key = found[0].decode() if isinstance(found[0], bytes) else found[0]
            broker = next(broker for broker in self.brokers if broker.list_key == key)
            return GpuMessage(broker, None, found[1])
        for broker in self.brokers:
            # django-q2's ORM broker sleeps whenever it finds a list empty; asking
            # first whether the list has anything keeps a free order from waiting out
            # a sleep on the empty paid list.
            if isinstance(broker, OrmBroker) and not broker.queue_size():
                continue
            tasks = broker.dequeue()
            if tasks:
                ack_id, payload = tasks[0]
                return GpuMessage(broker, ack_id, payload)
        wait(poll_seconds)
        return None

    def acknowledge(self, message: GpuMessage) -> None:
        message.broker.acknowledge(message.ack_id)
