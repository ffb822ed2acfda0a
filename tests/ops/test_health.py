import pytest
from django.db import connection

pytestmark = pytest.mark.django_db(transaction=True)


def test_healthz_is_ok_when_every_part_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok", "storage": "ok"},
    }


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs a database server to take away; SQLite's in-memory test database cannot be",
)
def test_healthz_is_503_naming_the_database_when_it_is_down(client, monkeypatch):
    connection.close()
    monkeypatch.setitem(connection.settings_dict, "PORT", "1")
    try:
        response = client.get("/healthz")
    finally:
        connection.close()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["database"].startswith("fail")
    assert body["checks"]["storage"] == "ok"


def test_healthz_is_503_naming_storage_when_writes_fail(client, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": "/proc/no-writes-here"},
        },
    }
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["storage"].startswith("fail")
