"""/metrics: who may read it, that Prometheus can parse it, and that each number is
right for known data, at a query cost that does not grow with the data."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.models import OrmQ
from prometheus_client.parser import text_string_to_metric_families

from generation import services
from generation.models import Headshot, Order, PurgeRun, SourcePhoto, WorkerStatus
from tests.factories import MembershipFactory
from tests.generation.worker import deliver

from .conftest import place_order, upload_photo

pytestmark = pytest.mark.django_db

EXTERNAL = "203.0.113.7"


def _families(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        family.name: family for family in text_string_to_metric_families(response.content.decode())
    }


def _samples(family) -> dict:
    return {tuple(sorted(sample.labels.items())): sample.value for sample in family.samples}


# --- Who may read it ---------------------------------------------------------------


def test_internal_addresses_may_read_without_a_token(client):
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::ffff:192.168.0.9").status_code == 200


@pytest.mark.parametrize("address", [EXTERNAL, "2001:db8::1", "", "not-an-address"])
def test_other_addresses_without_a_token_get_not_found(client, address):
    response = client.get("/metrics", REMOTE_ADDR=address)

    assert response.status_code == 404
    assert b"headshots_" not in response.content


def test_a_proxied_request_is_not_internal_even_from_the_proxys_address(client):
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=EXTERNAL)

    assert response.status_code == 404


def test_the_token_opens_it_from_anywhere(client, settings):
    settings.METRICS_TOKEN = "s3cret-scrape-token"

    response = client.get(
        "/metrics", REMOTE_ADDR=EXTERNAL, HTTP_AUTHORIZATION="Bearer s3cret-scrape-token"
    )

    assert response.status_code == 200
    assert b"headshots_queue_depth" in response.content


@pytest.mark.parametrize(
    "header", ["Bearer wrong", "Bearer", "Basic czNjcmV0", "s3cret-scrape-token", "Bearer ü"]
)
def test_a_wrong_token_is_forbidden_even_from_inside(client, settings, header):
    settings.METRICS_TOKEN = "s3cret-scrape-token"

    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION=header)

    assert response.status_code == 403
    assert b"headshots_" not in response.content


def test_no_token_configured_means_no_token_is_accepted(client, settings):
    settings.METRICS_TOKEN = ""

    response = client.get("/metrics", REMOTE_ADDR=EXTERNAL, HTTP_AUTHORIZATION="Bearer ")

    assert response.status_code == 403


def test_the_address_rule_can_be_turned_off(client, settings):
    settings.METRICS_INTERNAL_NETWORKS = []

    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404


def test_only_get_is_answered(client):
    assert client.post("/metrics").status_code == 405


# --- What it says ------------------------------------------------------------------


def _age(instance, model, field: str, **delta) -> None:
    model.all_workspaces_unscoped.filter(pk=instance.pk).update(
        **{field: timezone.now() - timedelta(**delta)}
    )


def _finished_after(order, seconds: int, *, ago=timedelta(minutes=5)) -> None:
    finished = timezone.now() - ago
    Order.all_workspaces_unscoped.filter(pk=order.pk).update(
        finished_at=finished, created_at=finished - timedelta(seconds=seconds)
    )


@pytest.fixture
def known(workspace, user, django_capture_on_commit_callbacks):
    """Orders, headshots, workers and photos whose every metric is known in advance."""
    photo = upload_photo(workspace, user)
    # Outside the capture, enqueues never run (the test's transaction never commits):
    # only the two orders left queued put a message on the broker.
    fast, middle, slow, old = (
        deliver(place_order(workspace, user, photo=photo, per_style=1)) for _ in range(4)
    )
    failed = services.order_mark_failed(
        order=place_order(workspace, user, photo=photo, per_style=1),
        code="no_face",
        message="No face.",
    )
    OrmQ.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        queued = [place_order(workspace, user, photo=photo, per_style=1) for _ in range(2)]
    _finished_after(fast, 60)
    _finished_after(middle, 120)
    _finished_after(slow, 600)
    _finished_after(old, 5, ago=timedelta(days=2))
    _age(old.headshots.get(), Headshot, "created_at", hours=3)

    now = timezone.now()
    for worker_id, device, seconds_ago, stopped in [
        ("gpu-a-0", "cuda:0", 30, False),
        ("gpu-a-1", "cuda:1", 5, False),
        ("gpu-gone", "cuda:0", 3600, True),
    ]:
        WorkerStatus.objects.create(
            worker_id=worker_id,
            hostname="gpu-a",
            pid=1,
            device=device,
            model_set="real",
            started_at=now - timedelta(hours=2),
            heartbeat_at=now - timedelta(seconds=seconds_ago),
            current_order=queued[0] if worker_id == "gpu-a-1" else None,
            stopped_at=now if stopped else None,
        )
    late = upload_photo(workspace, user)
    _age(late, SourcePhoto, "purge_at", hours=2)
    _age(upload_photo(workspace, user), SourcePhoto, "purge_at", minutes=10)
    PurgeRun.objects.create(
        started_at=now - timedelta(minutes=30),
        finished_at=now - timedelta(minutes=29),
        photos_failed=2,
        headshots_failed=1,
    )
    return {"failed": failed, "queued": queued}


def test_metrics_parse_and_report_the_seeded_state(client, known):
    families = _families(client)

    assert _samples(families["headshots_queue_depth"]) == {
        (("queue", "gpu-priority"),): 0,
        (("queue", "gpu"),): 2,
        (("queue", "default"),): 0,
    }
    assert set(_samples(families["headshots_queue_up"]).values()) == {1}
    assert _samples(families["headshots_orders"]) == {
        (("status", "queued"),): 2,
        (("status", "running"),): 0,
        (("status", "succeeded"),): 4,
        (("status", "failed"),): 1,
        (("status", "canceled"),): 0,
    }
    assert families["headshots_made_last_hour"].samples[0].value == 3
    made = families["headshots_made"]
    assert made.type == "counter"
    assert [(sample.name, sample.value) for sample in made.samples] == [("headshots_made_total", 4)]

    # Succeeded in the last 24 h after 60, 120 and 600 s (the 2-day-old one is out).
    assert _samples(families["headshots_order_latency_seconds"]) == {
        (("quantile", "0.5"),): pytest.approx(120, abs=1),
        (("quantile", "0.95"),): pytest.approx(600, abs=1),
    }

    heartbeats = _samples(families["headshots_worker_heartbeat_age_seconds"])
    assert set(heartbeats) == {
        (("device", "cuda:0"), ("worker", "gpu-a-0")),
        (("device", "cuda:1"), ("worker", "gpu-a-1")),
    }
    assert heartbeats[(("device", "cuda:0"), ("worker", "gpu-a-0"))] == pytest.approx(30, abs=5)
    assert heartbeats[(("device", "cuda:1"), ("worker", "gpu-a-1"))] == pytest.approx(5, abs=5)
    assert _samples(families["headshots_worker_busy"]) == {
        (("device", "cuda:0"), ("worker", "gpu-a-0")): 0,
        (("device", "cuda:1"), ("worker", "gpu-a-1")): 1,
    }

    lag = families["headshots_photo_purge_lag_seconds"].samples[0].value
    assert lag == pytest.approx(2 * 3600, abs=10)
    assert families["headshots_purge_last_run_failures"].samples[0].value == 3
    last_run = families["headshots_purge_last_run_timestamp_seconds"].samples[0].value
    assert last_run == pytest.approx((timezone.now() - timedelta(minutes=29)).timestamp(), abs=10)


def test_an_empty_service_reports_zeros_and_no_latency(client, db):
    families = _families(client)

    assert set(_samples(families["headshots_orders"]).values()) == {0}
    assert families["headshots_photo_purge_lag_seconds"].samples[0].value == 0
    assert families["headshots_made"].samples[0].value == 0
    latency = _samples(families["headshots_order_latency_seconds"]).values()
    assert all(value != value for value in latency)  # NaN: nothing to measure yet
    assert families["headshots_worker_heartbeat_age_seconds"].samples == []


def test_a_scrape_costs_the_same_queries_for_more_data(client, known):
    other = MembershipFactory()

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/metrics").status_code == 200
        return len(captured)

    few = queries()
    for number in range(5):
        WorkerStatus.objects.create(
            worker_id=f"gpu-more-{number}",
            hostname="h",
            pid=number,
            device="cuda:0",
            model_set="real",
            started_at=timezone.now(),
            heartbeat_at=timezone.now(),
        )
        order = place_order(other.workspace, other.user, per_style=1)
        _finished_after(deliver(order), 30 + number)

    assert queries() == few <= 15
