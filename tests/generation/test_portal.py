import io
import json
import subprocess
import sys
import zipfile

import pytest
from django.conf import settings
from django.urls import reverse

from generation import services
from generation.models import Order, QuotaUsage

from . import imagefiles
from .worker import deliver


def _order(client, workspace, photo, styles, per_style=1, as_json=True):
    url = reverse("order_create", kwargs={"workspace_slug": workspace.slug})
    if as_json:
        return client.post(
            url,
            json.dumps(
                {"photo": photo.pk, "styles": [s.slug for s in styles], "per_style": per_style}
            ),
            content_type="application/json",
            HTTP_ACCEPT="application/json",
        )
    return client.post(
        url, {"photo": photo.pk, "styles": [s.slug for s in styles], "per_style": per_style}
    )


def test_dashboard_links_to_the_studio(logged_in, workspace):
    response = logged_in.get(reverse("dashboard"))

    assert reverse("studio", kwargs={"workspace_slug": workspace.slug}) in response.content.decode()


def test_studio_shows_upload_styles_with_their_tier_and_the_quota(logged_in, workspace, photo):
    response = logged_in.get(reverse("studio", kwargs={"workspace_slug": workspace.slug}))

    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="dropzone"' in page and 'type="file"' in page
    assert "js/studio.js" in page and "js/portal.js" in page
    assert "Legal library" in page and "Comes with Team</a>" in page
    assert "8</strong> of 8 headshots left" in page
    assert reverse("photo_preview", args=[workspace.slug, photo.pk]) in page
    assert '"maxBytes": 20971520' in page
    assert 'src="http' not in page and 'href="http' not in page  # no CDN, ever


def test_photo_preview_is_a_small_decrypted_jpeg(logged_in, workspace, photo):
    response = logged_in.get(reverse("photo_preview", args=[workspace.slug, photo.pk]))

    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert response.content[:2] == b"\xff\xd8"
    assert "private" in response["Cache-Control"]


def test_portal_order_live_progress_gallery_and_downloads(logged_in, workspace, photo, free_style):
    created = _order(logged_in, workspace, photo, [free_style], per_style=2)
    assert created.status_code == 201
    data = created.json()
    assert data["status"] == "queued" and data["urls"]["page"].endswith(f"/orders/{data['id']}/")

    status_url = data["urls"]["status"]
    order = Order.objects.for_workspace(workspace).get(pk=data["id"])
    running = deliver(order, count=1, finish=False)
    services.order_record_progress(order=running, worker_id="gpu-test-1", stage="Rendering")
    progress = logged_in.get(status_url).json()
    assert progress["status"] == "running"
    assert progress["progress"] == {"done": 1, "total": 2, "stage": "Rendering"}
    services.headshot_create(
        order=running,
        style=free_style,
        index=1,
        seed=2,
        image=imagefiles.portrait_pixels(64, 64),
        likeness=0.7,
    )
    services.order_mark_succeeded(order=running)

    done = logged_in.get(status_url).json()
    assert done["status"] == "succeeded" and len(done["headshots"]) == 2
    headshot = done["headshots"][0]
    assert headshot["url"] == reverse("headshot_image", args=[workspace.slug, headshot["id"]])
    full = logged_in.get(headshot["url"])
    assert full.status_code == 200 and full["Content-Type"] == "image/jpeg"
    attachment = logged_in.get(headshot["download_url"])
    assert attachment["Content-Disposition"].startswith("attachment")
    assert logged_in.get(headshot["thumbnail_url"]).status_code == 200
    archive = logged_in.get(done["urls"]["download"])
    names = zipfile.ZipFile(io.BytesIO(b"".join(archive.streaming_content))).namelist()
    # Each headshot, and its profile (1:1) and website (4:5) crops.
    assert len(names) == 2 * 3

    page = logged_in.get(done["urls"]["page"]).content.decode()
    assert "js/order.js" in page and 'id="order-data"' in page and "Download all" in page
    history = logged_in.get(reverse("order_history", args=[workspace.slug])).content.decode()
    assert f"#{data['id']}" in history


def test_portal_explains_premium_and_quota_failures(
    logged_in, workspace, photo, free_style, premium_style
):
    upgrade = _order(logged_in, workspace, photo, [premium_style])
    assert upgrade.status_code == 402
    assert upgrade.json()["error"]["code"] == "upgrade_required"
    assert "Premium" in upgrade.json()["error"]["message"]

    over = _order(logged_in, workspace, photo, [free_style], per_style=11)
    assert over.status_code == 400 and over.json()["error"]["code"] == "invalid_per_style"
    assert _order(logged_in, workspace, photo, [free_style], per_style=8).status_code == 201
    quota = _order(logged_in, workspace, photo, [free_style], per_style=1)
    assert quota.status_code == 402
    assert quota.json()["error"]["code"] == "quota_exceeded"
    assert "0 left" in quota.json()["error"]["message"]


def test_portal_order_form_without_scripts(logged_in, workspace, photo, free_style, premium_style):
    refused = _order(logged_in, workspace, photo, [premium_style], as_json=False)
    assert refused.status_code == 302 and refused.url == reverse("studio", args=[workspace.slug])
    assert "needs the Premium plan" in logged_in.get(refused.url).content.decode()

    placed = _order(logged_in, workspace, photo, [free_style], as_json=False)
    order = Order.objects.for_workspace(workspace).get()
    assert placed.url == reverse("order_detail", args=[workspace.slug, order.pk])


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        json.dumps([1, 2]),
        json.dumps({"photo": "x", "styles": ["a"]}),
        json.dumps({"photo": 1, "styles": "a"}),
    ],
)
def test_portal_order_bad_input_is_a_400(logged_in, workspace, body):
    response = logged_in.post(
        reverse("order_create", args=[workspace.slug]),
        body,
        content_type="application/json",
        HTTP_ACCEPT="application/json",
    )

    assert response.status_code == 400
    assert "error" in response.json()


def test_failed_order_shows_what_to_do(logged_in, workspace, photo, free_style):
    order_id = _order(logged_in, workspace, photo, [free_style]).json()["id"]
    running = services.order_mark_running(order_id=order_id, worker_id="gpu-a")
    services.order_mark_failed(
        order=running, code="no_face", message="We could not find a face in your photo."
    )

    status = logged_in.get(reverse("order_status", args=[workspace.slug, order_id])).json()
    page = logged_in.get(reverse("order_detail", args=[workspace.slug, order_id])).content.decode()

    assert status["error"]["code"] == "no_face" and "well-lit selfie" in status["error"]["hint"]
    assert "well-lit selfie" in page
    assert QuotaUsage.objects.for_workspace(workspace).get().used == 0


def test_portal_cancel(logged_in, workspace, photo, free_style):
    order_id = _order(logged_in, workspace, photo, [free_style], per_style=2).json()["id"]

    response = logged_in.post(
        reverse("order_cancel", args=[workspace.slug, order_id]), HTTP_ACCEPT="application/json"
    )

    assert response.json()["status"] == "canceled"
    assert QuotaUsage.objects.for_workspace(workspace).get().used == 0


def test_every_portal_url_is_404_for_an_outsider(client, workspace, photo, free_style, outsider):
    order = services.order_create(
        workspace=workspace,
        user=photo.uploaded_by,
        photo=photo,
        style_slugs=[free_style.slug],
        per_style=1,
    )
    headshot = deliver(order).headshots.get()
    client.force_login(outsider)
    kwargs = {"photo_id": photo.pk, "order_id": order.pk, "headshot_id": headshot.pk}
    from generation.urls import urlpatterns

    for pattern in urlpatterns:
        names = set(pattern.pattern.converters)
        url = reverse(
            pattern.name,
            kwargs={
                "workspace_slug": workspace.slug,
                **{k: kwargs[k] for k in names - {"workspace_slug"}},
            },
        )
        for method in ("get", "post"):
            assert getattr(client, method)(url).status_code == 404, (method, url)
    assert Order.objects.for_workspace(workspace).get().status == Order.Status.SUCCEEDED


def test_portal_needs_a_login(client, workspace):
    response = client.get(reverse("studio", args=[workspace.slug]))

    assert response.status_code == 302 and reverse("account_login") in response.url


def test_post_only_endpoints_refuse_get_for_members(logged_in, workspace):
    assert logged_in.get(reverse("order_create", args=[workspace.slug])).status_code == 405


def test_api_schema_builds_without_warnings(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "spectacular",
            "--fail-on-warn",
            "--file",
            str(tmp_path / "schema.yml"),
        ],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    schema = (tmp_path / "schema.yml").read_text()
    for path in (
        "/api/v1/styles/",
        "/api/v1/workspaces/{wid}/photos/",
        "/api/v1/workspaces/{wid}/orders/{order_id}/download/",
    ):
        assert path in schema


def test_the_web_tier_never_imports_the_gpu_stack():
    code = (
        "import django, sys; django.setup();"
        "import generation.api, generation.views, generation.services, generation.admin, generation.tasks;"
        "from django.urls import resolve; resolve('/');"
        "heavy = {'torch', 'diffusers', 'insightface', 'onnxruntime', 'spandrel'} & set(sys.modules);"
        "print(sorted(heavy)); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        env={"DJANGO_SETTINGS_MODULE": "headshot_site.settings", "PATH": "/usr/bin:/bin"},
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_studio_opens_with_finished_steps_folded(logged_in, workspace, photo):
    page = logged_in.get(reverse("studio", args=[workspace.slug])).content.decode()

    # A selfie through the face check is picked for the customer: uploading and picking
    # are done, each folded to its one line with a way to change it.
    assert '<details class="card step" id="upload-step">' in page
    assert '<details class="card step" id="photo-step">' in page
    assert '<span class="step-done" id="photo-done">' in page
    assert reverse("photo_preview", args=[workspace.slug, photo.pk]) in page
    assert page.count('<span class="step-change">Change</span>') == 2
    # Styles are what is left to do: open, with a way on once they are chosen.
    assert '<details class="card step" id="style-step" open>' in page
    assert 'id="styles-done"' in page


def test_a_selfie_still_being_checked_leaves_the_photo_step_open(
    logged_in, workspace, unchecked_photo
):
    page = logged_in.get(reverse("studio", args=[workspace.slug])).content.decode()

    assert '<details class="card step" id="photo-step" open>' in page
    assert '<span class="step-done" id="photo-done" hidden>' in page
