"""Selfies and headshots on S3 (a moto server on loopback): stored encrypted, served to
their owner only, zipped, and purged with a failed delete retried on the next run.

Images are streamed by the access-checked views (as with local storage): no object URL,
signed or not, ever leaves the app, so there is no link to share or to outlive access.
"""

import io
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from io import StringIO

import pytest
from botocore.stub import Stubber
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from generation import crypto, services
from generation.models import Headshot, Order, SourcePhoto, Style
from generation.storage import storage_delete_many
from tests.conftest import api_client_for
from tests.factories import checked_photo
from tests.generation import imagefiles
from tests.generation.worker import deliver

from .conftest import free_port

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

JPEG_START = b"\xff\xd8\xff"


def _purge() -> str:
    out = StringIO()
    call_command("purge_photos", stdout=out)
    return out.getvalue()


def _upload(api, workspace) -> SourcePhoto:
    response = api.post(
        reverse("api_photos", kwargs={"wid": workspace.pk}),
        {"image": imagefiles.upload(imagefiles.jpeg())},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    return SourcePhoto.objects.for_workspace(workspace).get(pk=response.json()["id"])


@pytest.fixture
def delivered(s3, api, workspace, user):
    style = Style.objects.create(slug="s3-test-grey", name="S3 test grey", prompt="p")
    photo = checked_photo(_upload(api, workspace))
    order = services.order_create(
        workspace=workspace, user=user, photo=photo, style_slugs=[style.slug], per_style=2
    )
    return deliver(order)


def test_a_selfie_is_stored_encrypted_in_the_bucket(s3, api, workspace):
    photo = _upload(api, workspace)

    assert s3.keys() == [photo.storage_name]
    stored = s3.read(photo.storage_name)
    assert not stored.startswith(JPEG_START) and JPEG_START not in stored
    jpeg = crypto.decrypt(stored, purpose=services.photos.PHOTO_PURPOSE)
    assert jpeg.startswith(JPEG_START) and len(jpeg) == photo.size_bytes
    assert services.photo_read_image(photo=photo) == jpeg


def test_headshots_are_served_to_their_owner_only(delivered, s3, api, client, user, outsider):
    headshot = Headshot.objects.for_workspace(delivered.workspace).first()
    assert {headshot.file.name, headshot.thumbnail.name} <= set(s3.keys())
    stored = s3.read(headshot.file.name)
    api_url = reverse(
        "api_headshot_image", kwargs={"wid": delivered.workspace_id, "headshot_id": headshot.pk}
    )
    portal_url = reverse(
        "headshot_image",
        kwargs={"workspace_slug": delivered.workspace.slug, "headshot_id": headshot.pk},
    )

    response = api.get(api_url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == stored
    assert response["Cache-Control"] == "private, max-age=3600"
    client.force_login(user)
    assert b"".join(client.get(portal_url).streaming_content) == stored

    assert api_client_for(outsider).get(api_url).status_code == 404
    client.force_login(outsider)
    assert client.get(portal_url).status_code == 404


def test_the_zip_download_holds_every_headshot_from_the_bucket(delivered, s3, api, outsider):
    url = reverse(
        "api_order_download", kwargs={"wid": delivered.workspace_id, "order_id": delivered.pk}
    )

    response = api.get(url)

    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    headshots = Headshot.objects.for_workspace(delivered.workspace)
    # The full images at the top; the face-centred crops are cut from them in folders.
    full = [name for name in archive.namelist() if "/" not in name]
    assert sorted(archive.read(name) for name in full) == sorted(
        s3.read(headshot.file.name) for headshot in headshots
    )
    assert len(full) == 2
    assert sorted({name.split("/")[0] for name in archive.namelist() if "/" in name}) == [
        "profile",
        "website",
    ]
    assert api_client_for(outsider).get(url).status_code == 404


def test_purge_deletes_the_objects_from_the_bucket(delivered, s3, api, workspace):
    fresh = _upload(api, workspace)
    SourcePhoto.objects.for_workspace(workspace).exclude(pk=fresh.pk).update(
        purge_at=timezone.now() - timedelta(minutes=1)
    )
    Order.objects.for_workspace(workspace).update(finished_at=timezone.now() - timedelta(days=8))
    assert len(s3.keys()) == 6  # two selfies, two headshots with their thumbnails

    output = _purge()

    assert "photos: 1 deleted, 0 failed" in output
    assert "headshots: 2 deleted, 0 failed" in output
    assert s3.keys() == [fresh.storage_name]
    assert list(SourcePhoto.objects.for_workspace(workspace)) == [fresh]
    assert not Headshot.objects.for_workspace(workspace).exists()


def test_a_failed_delete_is_kept_and_retried_on_the_next_run(
    s3, api, workspace, settings, monkeypatch
):
    photo = _upload(api, workspace)
    services.photo_store_face_data(photo=photo, face_data=b"face")
    SourcePhoto.objects.for_workspace(workspace).update(
        purge_at=timezone.now() - timedelta(minutes=1)
    )
    # The bucket unreachable: nothing listens on this port. One try, no retry backoff.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    s3.use(settings, endpoint=f"http://127.0.0.1:{free_port()}")

    assert "photos: 0 deleted, 1 failed" in _purge()

    kept = SourcePhoto.objects.for_workspace(workspace).get()
    assert kept.purge_attempts == 1
    assert kept.last_purge_error.startswith("EndpointConnectionError")
    assert kept.face_data is None
    assert s3.keys() == [photo.storage_name]

    s3.use(settings)
    assert "photos: 1 deleted, 0 failed" in _purge()
    assert s3.keys() == []
    assert not SourcePhoto.objects.for_workspace(workspace).exists()


def test_a_thousand_keys_go_in_one_request(s3):
    names = [f"photos/bulk/{number:05}.enc" for number in range(1005)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(
            pool.map(
                lambda name: s3.client.put_object(Bucket=s3.name, Key=name, Body=b"x"), names[:1001]
            )
        )
    requests = []
    default_storage.bucket.meta.client.meta.events.register(
        "before-call.s3.DeleteObjects", lambda **kwargs: requests.append(kwargs)
    )

    # The last four were never stored: already gone counts as deleted.
    assert storage_delete_many(names) == {}
    assert s3.keys() == []
    assert len(requests) == 2


def test_a_key_s3_refuses_is_reported_with_its_own_reason(s3):
    """moto reports per-key errors only for versioned, locked objects, which the purge
    never deletes by version; S3 itself can refuse single keys (AccessDenied, SlowDown)
    in an otherwise successful DeleteObjects. Its documented answer is given here."""
    client = default_storage.bucket.meta.client
    with Stubber(client) as stub:
        stub.add_response(
            "delete_objects",
            {"Errors": [{"Key": "photos/b.enc", "Code": "AccessDenied", "Message": "Denied"}]},
            {
                "Bucket": s3.name,
                "Delete": {
                    "Objects": [{"Key": "photos/a.enc"}, {"Key": "photos/b.enc"}],
                    "Quiet": True,
                },
            },
        )
        failed = storage_delete_many(["photos/a.enc", "photos/b.enc"])

    assert failed == {"photos/b.enc": "AccessDenied: Denied"}
