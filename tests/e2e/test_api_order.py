"""An API client's whole order, over HTTP against the running web process, with a real
`gpu_worker` process taking it from the broker: the path DESIGN draws, end to end."""

from __future__ import annotations

import io
import zipfile
from urllib.parse import urljoin

import pytest
import requests
from PIL import Image

from tests.e2e.fixtures import selfie_bytes
from tests.e2e.support import api_sign_up, wait_for

pytestmark = pytest.mark.slow


def test_an_api_order_reaches_succeeded_with_its_headshots_stored(portal, start_worker, mailoutbox):
    start_worker()
    api = requests.Session()
    token = api_sign_up(
        portal, mailoutbox, email="api-client@example.com", password="a-long-enough-passphrase"
    )
    api.headers["Authorization"] = f"Token {token}"
    [workspace] = api.get(f"{portal}/api/v1/me/", timeout=30).json()["workspaces"]
    base = f"{portal}/api/v1/workspaces/{workspace['id']}"

    photo = api.post(
        f"{base}/photos/",
        files={"image": ("selfie.jpg", selfie_bytes(), "image/jpeg")},
        timeout=30,
    )
    assert photo.status_code == 201, photo.text
    # The worker checks the selfie for a face first; a client polls until it may order.
    photo_url = f"{base}/photos/{photo.json()['id']}/"
    checked = wait_for(
        lambda: (
            (body := api.get(photo_url, timeout=30).json())["check"]["status"] != "pending" and body
        ),
        timeout=120,
        what="the face check of the selfie",
    )
    assert checked["check"]["status"] == "ok", checked["check"]
    styles = [
        style["slug"]
        for style in api.get(f"{portal}/api/v1/styles/", timeout=30).json()
        if style["tier"] == "free"
    ][:2]
    placed = api.post(
        f"{base}/orders/",
        json={"photo": photo.json()["id"], "styles": styles, "per_style": 1},
        timeout=30,
    )
    assert placed.status_code == 201, placed.text
    assert placed.json()["status"] == "queued"
    order_url = f"{base}/orders/{placed.json()['id']}/"

    finished = wait_for(
        lambda: (
            (body := api.get(order_url, timeout=30).json())["status"] in ("succeeded", "failed")
            and body
        ),
        timeout=180,
        what="the order to finish",
    )
    assert finished["status"] == "succeeded", finished["error"]
    assert finished["progress"]["done"] == finished["progress"]["total"] == 2
    assert sorted(headshot["style"] for headshot in finished["headshots"]) == sorted(styles)
    for headshot in finished["headshots"]:
        image = api.get(urljoin(portal, headshot["url"]), timeout=30)
        assert image.status_code == 200
        assert Image.open(io.BytesIO(image.content)).size == (1024, 1024)

    archive = api.get(f"{order_url}download/", timeout=60)
    assert archive.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
    assert len([name for name in names if "/" not in name]) == 2
    assert len(names) == 2 * 3  # and the profile and website crops of each

    # Another customer's token sees none of it.
    stranger = api_sign_up(
        portal, mailoutbox, email="stranger@example.com", password="a-long-enough-passphrase"
    )
    assert (
        requests.get(
            order_url, headers={"Authorization": f"Token {stranger}"}, timeout=30
        ).status_code
        == 404
    )
