"""The face check at upload, as the API and the studio show it: pending, then ok or
rejected, and no order with a photo that has not passed."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from generation import services
from generation.models import ErrorCode, Order, QuotaUsage
from tests.factories import checked_photo

from . import imagefiles


def _upload(api, workspace):
    return api.post(
        reverse("api_photos", kwargs={"wid": workspace.pk}),
        {"image": imagefiles.upload(imagefiles.jpeg())},
        format="multipart",
    )


def _photo(api, workspace, photo_id):
    return api.get(reverse("api_photo", kwargs={"wid": workspace.pk, "photo_id": photo_id}))


def _order(api, workspace, photo_id, style):
    return api.post(
        reverse("api_orders", kwargs={"wid": workspace.pk}),
        {"photo": photo_id, "styles": [style.slug], "per_style": 1},
        format="json",
    )


def test_an_upload_is_pending_and_its_check_goes_on_the_priority_list_after_commit(
    api, workspace, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _upload(api, workspace)
        # Nothing reaches the worker before the photo's row is committed.
        assert not OrmQ.objects.exists()
    for callback in callbacks:
        callback()

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["check"] == {
        "status": "pending",
        "code": "",
        "message": "Waiting to be checked for a face.",
    }
    [message] = OrmQ.objects.all()
    task = SignedPackage.loads(message.payload)
    assert message.key == settings.GPU_PRIORITY_QUEUE_NAME
    assert task["func"] == settings.GPU_PHOTO_CHECK_FUNC
    assert task["args"] == (body["id"],)


def test_ordering_with_a_photo_not_yet_checked_is_refused_and_reserves_nothing(
    api, workspace, unchecked_photo, free_style
):
    response = _order(api, workspace, unchecked_photo.pk, free_style)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "photo_not_checked"
    assert "still being checked" in response.json()["error"]["message"]
    assert not Order.objects.for_workspace(workspace).exists()
    assert not QuotaUsage.objects.for_workspace(workspace).filter(used__gt=0).exists()


def test_a_rejected_photo_says_why_and_cannot_be_ordered_with(
    api, workspace, unchecked_photo, free_style
):
    assert services.photo_check_rejected(photo=unchecked_photo, code=ErrorCode.NO_FACE)

    check = _photo(api, workspace, unchecked_photo.pk).json()["check"]
    assert check["status"] == "rejected"
    assert check["code"] == "no_face"
    assert check["message"] == (
        "No usable face: try a photo where your face is clear and in front of the camera."
    )
    response = _order(api, workspace, unchecked_photo.pk, free_style)
    assert response.status_code == 400
    assert response.json()["error"] == {"code": "photo_rejected", "message": check["message"]}
    assert not Order.objects.for_workspace(workspace).exists()


def test_a_photo_that_passed_orders_and_keeps_its_face_data_for_the_worker(
    api, workspace, unchecked_photo, free_style
):
    assert services.photo_check_passed(photo=unchecked_photo, face_data=b"npz of the face")

    listed = api.get(reverse("api_photos", kwargs={"wid": workspace.pk})).json()
    assert [photo["check"]["status"] for photo in listed] == ["ok"]
    assert listed[0]["check"]["message"] == "Face found."
    assert services.photo_read_face_data(photo=unchecked_photo) == b"npz of the face"
    assert _order(api, workspace, unchecked_photo.pk, free_style).status_code == 201


def test_a_decided_check_is_never_overwritten_by_a_redelivered_message(unchecked_photo):
    assert services.photo_check_rejected(photo=unchecked_photo, code=ErrorCode.FACE_TOO_SMALL)

    assert not services.photo_check_passed(photo=unchecked_photo, face_data=b"late")

    unchecked_photo.refresh_from_db()
    assert unchecked_photo.check_status == "rejected"
    assert unchecked_photo.check_error_code == "face_too_small"
    assert unchecked_photo.face_data is None


@pytest.fixture
def portal(client, user):
    client.force_login(user)
    return client


def test_the_studio_preselects_the_newest_photo_that_was_not_rejected(
    portal, workspace, user, free_style
):
    older = checked_photo(
        services.photo_upload(
            workspace=workspace, user=user, upload=imagefiles.upload(imagefiles.jpeg())
        )
    )
    newer = services.photo_upload(
        workspace=workspace, user=user, upload=imagefiles.upload(imagefiles.jpeg())
    )
    services.photo_check_rejected(photo=newer, code=ErrorCode.NO_FACE)

    page = portal.get(reverse("studio", args=[workspace.slug])).content.decode()

    assert f'value="{older.pk}" checked' in page
    assert f'value="{newer.pk}" disabled' in page
    assert "No usable face: try a photo where your face is clear" in page


def test_the_studio_polls_a_pending_photo_through_its_status_endpoint(
    portal, workspace, unchecked_photo
):
    url = reverse("photo_status", args=[workspace.slug, unchecked_photo.pk])
    page = portal.get(reverse("studio", args=[workspace.slug])).content.decode()
    assert f'data-status-url="{url}"' in page
    assert "Checking for a face…" in page

    pending = portal.get(url, HTTP_ACCEPT="application/json")
    assert pending.json()["check"]["status"] == "pending"
    assert pending["Cache-Control"] == "no-store"

    services.photo_check_passed(photo=unchecked_photo, face_data=b"face")
    assert portal.get(url).json()["check"]["status"] == "ok"


def test_a_check_the_broker_refused_at_upload_is_sent_again_once_it_is_back(
    api, workspace, monkeypatch, django_capture_on_commit_callbacks
):
    import redis

    from generation.models import SourcePhoto

    def broker_down(**kwargs):
        raise redis.ConnectionError("Redis is restarting")

    with monkeypatch.context() as patched, django_capture_on_commit_callbacks(execute=True):
        patched.setattr("generation.services.photos.enqueue_photo_check", broker_down)
        response = _upload(api, workspace)
    assert response.status_code == 201, response.content
    photo = SourcePhoto.objects.for_workspace(workspace).get(pk=response.json()["id"])
    assert photo.check_sent_at is None and not OrmQ.objects.exists()
    resend = {"unsent_for": timedelta(minutes=1), "resend_after": timedelta(minutes=30)}

    # Just uploaded: the after-commit send may still be on its way.
    assert services.photos_resend_unchecked(**resend) == 0
    SourcePhoto.objects.for_workspace(workspace).filter(pk=photo.pk).update(
        created_at=timezone.now() - timedelta(minutes=2)
    )
    assert services.photos_resend_unchecked(**resend) == 1
    # Sent once: the next run leaves it to the worker.
    assert services.photos_resend_unchecked(**resend) == 0

    [message] = OrmQ.objects.all()
    assert SignedPackage.loads(message.payload)["args"] == (photo.pk,)
    photo.refresh_from_db()
    assert photo.check_sent_at is not None
    assert _photo(api, workspace, photo.pk).json()["check"]["status"] == "pending"


def test_a_check_sent_long_ago_and_never_answered_is_sent_again_but_a_decided_one_is_not(
    workspace, user
):
    from generation.models import SourcePhoto

    waiting = services.photo_upload(
        workspace=workspace, user=user, upload=imagefiles.upload(imagefiles.jpeg())
    )
    checked_photo(
        services.photo_upload(
            workspace=workspace, user=user, upload=imagefiles.upload(imagefiles.jpeg())
        )
    )
    long_ago = timezone.now() - timedelta(hours=1)
    SourcePhoto.objects.for_workspace(workspace).update(created_at=long_ago, check_sent_at=long_ago)
    OrmQ.objects.all().delete()

    resent = services.photos_resend_unchecked(
        unsent_for=timedelta(minutes=1), resend_after=timedelta(minutes=30)
    )

    assert resent == 1
    assert [SignedPackage.loads(m.payload)["args"] for m in OrmQ.objects.all()] == [(waiting.pk,)]
