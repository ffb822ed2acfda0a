"""The gallery: likeness in words and best match first, "More like this" and "Redo
this one" against the quota, and the face-centred crops."""

import io
import zipfile
from dataclasses import replace

import pytest
from django.urls import reverse
from PIL import Image

from billing.plans import entitlements
from generation import selectors, services
from generation.likeness import likeness_label
from generation.models import FreeAllowanceUsage, Order, QuotaUsage

from .conftest import set_entitlements


@pytest.mark.parametrize(
    "score, words",
    [
        (0.7, "Very strong match"),
        (0.5, "Strong match"),
        (0.4, "Good match"),
        (0.2, "Loose match"),
        (None, "Likeness not measured"),
    ],
)
def test_likeness_is_said_in_words(score, words):
    assert likeness_label(score) == words


def test_the_gallery_shows_best_match_first_with_words_and_the_number_on_hover(
    logged_in, workspace, delivered
):
    page = logged_in.get(reverse("order_detail", args=[workspace.slug, delivered.pk]))
    html = page.content.decode()
    strong = html.index(">Very strong match<")
    loose = html.index(">Loose match<")
    unmeasured = html.index(">Likeness not measured<")
    assert strong < loose < unmeasured
    assert 'title="Likeness 0.62 (face similarity to your selfie, from 0 to 1)"' in html

    status = logged_in.get(reverse("order_status", args=[workspace.slug, delivered.pk])).json()
    assert [item["likeness"] for item in status["headshots"]] == [0.62, 0.31, None]
    assert status["headshots"][0]["likeness_label"] == "Very strong match"
    # Only a real match is green: a loose one is amber, an unmeasured one neutral.
    assert [item["likeness_tone"] for item in status["headshots"]] == [
        "match",
        "loose",
        "unmeasured",
    ]
    assert 'class="likeness likeness-unmeasured"' in html
    # The number shows on hover, tap and focus from data-score (none when unmeasured).
    assert [item["likeness_score"] for item in status["headshots"]] == ["0.62", "0.31", ""]
    assert 'data-score="0.62"' in html and 'data-score=""' in html


def test_more_like_this_orders_the_same_styles_again_and_shows_its_cost_first(
    logged_in, workspace, delivered
):
    html = logged_in.get(reverse("order_detail", args=[workspace.slug, delivered.pk])).content
    assert b"More like this \xc2\xb7 uses 3" in html
    left = selectors.quota_status(workspace=workspace).remaining
    assert f"It uses 3 of the {left} headshots you have left this month.".encode() in html

    response = logged_in.post(
        reverse("order_more", args=[workspace.slug, delivered.pk]),
        HTTP_ACCEPT="application/json",
    )

    assert response.status_code == 201, response.content
    placed = Order.objects.for_workspace(workspace).get(pk=response.json()["id"])
    assert placed.photo_id == delivered.photo_id and placed.total == 3
    assert [s.slug for s in placed.styles.all()] == [s.slug for s in delivered.styles.all()]
    assert QuotaUsage.objects.for_workspace(workspace).get().used == 6


def test_more_like_this_over_the_quota_is_a_402_that_places_nothing(
    api, user, workspace, delivered
):
    # On the free plan the allowance is the person's. Two left; this order needs three.
    usage = FreeAllowanceUsage.objects.get(user=user)
    usage.used = selectors.quota_status(workspace=workspace, user=user).quota - 2
    usage.save()

    response = api.post(
        reverse("api_order_more", kwargs={"wid": workspace.pk, "order_id": delivered.pk})
    )

    assert response.status_code == 402
    assert response.json()["error"]["code"] == "quota_exceeded"
    assert Order.objects.for_workspace(workspace).count() == 1
    assert selectors.quota_status(workspace=workspace, user=user).remaining == 2


def test_no_more_once_the_selfie_is_deleted(api, workspace, delivered):
    services.photo_delete(photo=delivered.photo)

    response = api.post(
        reverse("api_order_more", kwargs={"wid": workspace.pk, "order_id": delivered.pk})
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "photo_expired"


def test_crops_are_face_centred_in_their_shapes(api, workspace, delivered):
    headshot = delivered.headshots.first()
    url = reverse("api_headshot_image", kwargs={"wid": workspace.pk, "headshot_id": headshot.pk})

    sizes = {}
    for crop in ("profile", "website"):
        response = api.get(url, {"crop": crop, "download": "1"})
        assert response.status_code == 200
        assert response["Content-Type"] == "image/jpeg"
        assert f"-{crop}.jpg" in response["Content-Disposition"]
        sizes[crop] = Image.open(io.BytesIO(b"".join(response.streaming_content))).size
    assert sizes == {"profile": (819, 819), "website": (819, 1024)}

    refused = api.get(url, {"crop": "banner"})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_crop"


def test_the_zip_holds_both_crops_of_every_headshot(api, workspace, delivered):
    download = api.get(
        reverse("api_order_download", kwargs={"wid": workspace.pk, "order_id": delivered.pk})
    )
    names = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content))).namelist()
    assert len([name for name in names if name.startswith("profile/")]) == 3
    assert len([name for name in names if name.startswith("website/")]) == 3


def test_redo_needs_the_quota_too(api, workspace, delivered, monkeypatch):
    set_entitlements(monkeypatch, replace(entitlements(workspace), monthly_quota=3))
    headshot = delivered.headshots.first()

    response = api.post(
        reverse("api_headshot_redo", kwargs={"wid": workspace.pk, "headshot_id": headshot.pk})
    )

    assert response.status_code == 402
    assert response.json()["error"]["code"] == "quota_exceeded"
