import base64
import io
import os

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image, ImageFile
from rest_framework.throttling import ScopedRateThrottle

from generation import crypto, services
from generation.models import SourcePhoto
from tests.conftest import api_client_for

from . import imagefiles


def _api_upload(api, workspace, data: bytes, name: str = "selfie.jpg"):
    url = reverse("api_photos", kwargs={"wid": workspace.pk})
    return api.post(url, {"image": imagefiles.upload(data, name)}, format="multipart")


def _portal_upload(client, workspace, data: bytes, name: str = "selfie.jpg"):
    url = reverse("photo_upload", kwargs={"workspace_slug": workspace.slug})
    return client.post(
        url, {"image": imagefiles.upload(data, name)}, HTTP_ACCEPT="application/json"
    )


@pytest.mark.parametrize(
    ("problem", "name", "make", "code"),
    imagefiles.BAD_UPLOADS,
    ids=[b[0] for b in imagefiles.BAD_UPLOADS],
)
def test_api_refuses_bad_upload_with_a_clear_400(api, workspace, problem, name, make, code):
    response = _api_upload(api, workspace, make(), name)

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert len(error["message"]) > 20
    assert not SourcePhoto.objects.for_workspace(workspace).exists()


@pytest.mark.parametrize(
    ("problem", "name", "make", "code"),
    imagefiles.BAD_UPLOADS,
    ids=[b[0] for b in imagefiles.BAD_UPLOADS],
)
def test_portal_refuses_bad_upload_with_a_clear_400(
    client, user, workspace, problem, name, make, code
):
    client.force_login(user)

    response = _portal_upload(client, workspace, make(), name)

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code
    assert not SourcePhoto.objects.for_workspace(workspace).exists()


def test_portal_upload_without_scripts_redirects_with_the_message(client, user, workspace):
    client.force_login(user)
    url = reverse("photo_upload", kwargs={"workspace_slug": workspace.slug})

    response = client.post(
        url, {"image": imagefiles.upload(imagefiles.jpeg(300, 300))}, follow=True
    )

    assert response.redirect_chain[-1][0] == reverse("studio", args=[workspace.slug])
    assert "at least 512 px" in response.content.decode()


def test_missing_image_field_is_a_400(api, workspace):
    response = api.post(reverse("api_photos", kwargs={"wid": workspace.pk}), {}, format="multipart")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "image_required"


def test_too_many_pixels_is_refused_before_decoding(monkeypatch, workspace, user):
    decoded = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(
        ImageFile.ImageFile, "load", lambda self: decoded.append(self) or real_load(self)
    )

    with pytest.raises(ValidationError) as refused:
        services.photo_upload(
            workspace=workspace,
            user=user,
            upload=imagefiles.upload(imagefiles.png_header_only(8000, 6000)),
        )
    assert refused.value.code == "too_many_pixels"
    assert decoded == []

    services.photo_upload(
        workspace=workspace, user=user, upload=imagefiles.upload(imagefiles.jpeg())
    )
    assert decoded, "the spy sees decoding of an acceptable photo"


def test_upload_returns_the_contract_fields_and_purges_in_24_hours(api, workspace):
    response = _api_upload(api, workspace, imagefiles.jpeg(768, 1024))

    assert response.status_code == 201
    body = response.json()
    assert set(body) >= {"id", "width", "height", "purge_at"}
    assert (body["width"], body["height"]) == (768, 1024)
    photo = SourcePhoto.objects.for_workspace(workspace).get(pk=body["id"])
    assert (photo.purge_at - photo.created_at).total_seconds() == 24 * 3600


def _stored_jpeg(photo) -> bytes:
    return services.photo_read_image(photo=photo)


def test_exif_orientation_applied_and_all_metadata_stripped(workspace, user):
    original = imagefiles.jpeg_with_gps_and_rotation(800, 600)
    assert b"TestCam" in original

    photo = services.photo_upload(
        workspace=workspace, user=user, upload=imagefiles.upload(original)
    )

    # Orientation 6 turns the 800×600 landscape into a 600×800 portrait, red on top.
    assert (photo.width, photo.height) == (600, 800)
    cleaned = Image.open(io.BytesIO(_stored_jpeg(photo)))
    assert cleaned.size == (600, 800)
    red, green, blue = cleaned.convert("RGB").getpixel((300, 100))
    assert red > 150 and blue < 100
    assert dict(cleaned.getexif()) == {}
    assert (
        "exif" not in cleaned.info
        and "xmp" not in cleaned.info
        and "icc_profile" not in cleaned.info
    )
    assert b"TestCam" not in _stored_jpeg(photo)


@pytest.mark.parametrize(
    ("make", "name", "size"),
    [
        (lambda: imagefiles.png_with_alpha(640, 640), "selfie.png", (640, 640)),
        (lambda: imagefiles.webp(600, 700), "selfie.webp", (600, 700)),
        (lambda: imagefiles.heic(640, 800), "IMG_0001.HEIC", (640, 800)),
    ],
    ids=["png", "webp", "heic"],
)
def test_png_webp_and_iphone_heic_are_accepted(api, workspace, make, name, size):
    response = _api_upload(api, workspace, make(), name)

    assert response.status_code == 201, response.content
    assert (response.json()["width"], response.json()["height"]) == size


def test_transparent_png_becomes_white_not_black(workspace, user):
    photo = services.photo_upload(
        workspace=workspace, user=user, upload=imagefiles.upload(imagefiles.png_with_alpha())
    )

    cleaned = Image.open(io.BytesIO(_stored_jpeg(photo))).convert("RGB")
    assert min(cleaned.getpixel((600, 300))) > 240


def test_raw_stored_file_does_not_contain_the_jpeg(workspace, user):
    photo = services.photo_upload(
        workspace=workspace, user=user, upload=imagefiles.upload(imagefiles.jpeg(768, 1024))
    )
    plaintext = _stored_jpeg(photo)

    with default_storage.open(photo.storage_name, "rb") as stored:
        raw = stored.read()

    assert plaintext.startswith(b"\xff\xd8")
    assert b"\xff\xd8\xff" not in raw
    assert b"JFIF" not in raw
    assert plaintext[200:264] not in raw
    assert raw.startswith(crypto.MAGIC)


def test_each_file_gets_a_fresh_nonce(workspace, user):
    data = imagefiles.jpeg()
    first = services.photo_upload(workspace=workspace, user=user, upload=imagefiles.upload(data))
    second = services.photo_upload(workspace=workspace, user=user, upload=imagefiles.upload(data))

    with (
        default_storage.open(first.storage_name, "rb") as a,
        default_storage.open(second.storage_name, "rb") as b,
    ):
        assert a.read()[:40] != b.read()[:40]


def test_key_rotation_reads_old_files_and_writes_with_the_newest_key(settings, workspace, user):
    old_key = settings.PHOTO_ENCRYPTION_KEYS[0]
    before = services.photo_upload(
        workspace=workspace, user=user, upload=imagefiles.upload(imagefiles.jpeg())
    )
    new_key = base64.b64encode(os.urandom(32)).decode()
    settings.PHOTO_ENCRYPTION_KEYS = [new_key, old_key]

    after = services.photo_upload(
        workspace=workspace, user=user, upload=imagefiles.upload(imagefiles.jpeg())
    )

    assert services.photo_read_image(photo=before).startswith(b"\xff\xd8")
    with (
        default_storage.open(before.storage_name, "rb") as a,
        default_storage.open(after.storage_name, "rb") as b,
    ):
        old_id, new_id = crypto.key_id_of(a.read()), crypto.key_id_of(b.read())
    assert old_id != new_id
    settings.PHOTO_ENCRYPTION_KEYS = [new_key]
    assert services.photo_read_image(photo=after).startswith(b"\xff\xd8")
    with pytest.raises(services.PhotoUnavailable):
        services.photo_read_image(photo=before)


def test_stored_under_a_private_name_not_a_public_url(workspace, user):
    photo = services.photo_upload(
        workspace=workspace, user=user, upload=imagefiles.upload(imagefiles.jpeg())
    )

    assert photo.storage_name.startswith(f"photos/{workspace.pk}/")
    assert photo.storage_name.endswith(".enc")
    assert "selfie" not in photo.storage_name


def test_owner_deletes_a_photo_at_once(api, workspace):
    photo_id = _api_upload(api, workspace, imagefiles.jpeg()).json()["id"]
    photo = SourcePhoto.objects.for_workspace(workspace).get(pk=photo_id)
    url = reverse("api_photo", kwargs={"wid": workspace.pk, "photo_id": photo_id})

    assert api.get(url).json()["id"] == photo_id
    response = api.delete(url)

    assert response.status_code == 204
    assert not default_storage.exists(photo.storage_name)
    assert not SourcePhoto.objects.for_workspace(workspace).filter(pk=photo_id).exists()
    assert api.get(url).status_code == 404


def test_portal_delete_of_a_photo(client, user, workspace, photo):
    client.force_login(user)
    url = reverse("photo_delete", kwargs={"workspace_slug": workspace.slug, "photo_id": photo.pk})

    response = client.post(url, HTTP_ACCEPT="application/json")

    assert response.json()["deleted"] is True
    assert not default_storage.exists(photo.storage_name)


def test_a_colleague_and_an_outsider_cannot_see_or_delete_my_photo(
    workspace, photo, colleague, outsider
):
    url = reverse("api_photo", kwargs={"wid": workspace.pk, "photo_id": photo.pk})
    for other in (colleague, outsider):
        client = api_client_for(other)
        assert client.get(url).status_code == 404
        assert client.delete(url).status_code == 404
    assert default_storage.exists(photo.storage_name)


def test_upload_is_throttled_on_the_api_and_in_the_portal(
    api, client, user, workspace, monkeypatch
):
    # DRF reads the rates once, at import; the scope is what is under test.
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"upload": "2/hour"})
    client.force_login(user)

    api_codes = [_api_upload(api, workspace, b"not an image").status_code for _ in range(2)]
    portal = _portal_upload(client, workspace, b"not an image")

    assert api_codes == [400, 400]
    assert portal.status_code == 429
    assert portal.json()["error"]["code"] == "throttled"
