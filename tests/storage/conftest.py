"""A real S3 API on loopback: moto's standalone server, spoken to over HTTP by boto3 and
django-storages exactly as in production (only the endpoint and the credentials differ)."""

import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from headshot_site.settings import s3_storage

REGION = "eu-west-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_server():
    """The endpoint URL of a moto S3 server process, for the whole session."""
    port = free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"moto_server did not answer at {endpoint}")
            time.sleep(0.1)
    yield endpoint
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class Bucket:
    name: str
    endpoint: str
    client: object

    def keys(self) -> list[str]:
        listing = self.client.list_objects_v2(Bucket=self.name)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()

    def use(self, settings, *, endpoint: str | None = None) -> None:
        """Make this bucket the default storage (at `endpoint`, the server's by default)."""
        settings.STORAGES = {
            **settings.STORAGES,
            "default": s3_storage(
                self.name, region_name=REGION, endpoint_url=endpoint or self.endpoint
            ),
        }


@pytest.fixture
def s3(moto_server, settings, monkeypatch):
    """A fresh private bucket on the moto server, as the default storage."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("s3", endpoint_url=moto_server, region_name=REGION)
    name = f"headshots-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    bucket = Bucket(name=name, endpoint=moto_server, client=client)
    bucket.use(settings)
    return bucket
