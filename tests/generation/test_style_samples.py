"""Style samples on the pages: a drawn placeholder until a sample exists, the sample
after, public and cached, and staff replacing it in the admin."""

import io

import pytest
from django.urls import reverse
from PIL import Image

from generation import services
from generation.models import Style
from generation.samples import sample_url
from tests.conftest import staff_signed_in
from tests.factories import UserFactory


def _png(colour, size=(900, 700)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def style(db):
    return Style.objects.get(slug="corporate-grey")


def test_a_style_without_a_sample_gets_a_placeholder_in_its_colours(client, style):
    assert not style.sample
    response = client.get(sample_url(style))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    svg = response.content.decode()
    assert svg.startswith("<svg") and "Corporate grey backdrop" in svg
    assert 'fill="#8a8f98"' in svg
    assert response["Cache-Control"] == "public, max-age=300"


def test_a_rendered_sample_is_served_square_with_a_url_that_can_be_cached_for_good(client, style):
    placeholder_url = sample_url(style)
    services.style_set_sample(style=style, image=Image.open(io.BytesIO(_png((10, 200, 30)))))

    url = sample_url(style)
    assert url != placeholder_url
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert "immutable" in response["Cache-Control"]
    image = Image.open(io.BytesIO(b"".join(response.streaming_content)))
    assert image.size == (512, 512)
    assert image.getpixel((256, 256))[1] > 150


def test_an_unknown_or_retired_style_has_no_sample(client, style):
    assert client.get(reverse("style_sample", args=["no-such-style"])).status_code == 404
    style.is_active = False
    style.save()
    assert client.get(sample_url(style)).status_code == 404


def test_every_active_style_has_a_picture_on_the_landing_pricing_and_studio_pages(
    client, user, workspace
):
    active = list(Style.objects.filter(is_active=True))
    assert len(active) == 12
    pages = [reverse("landing"), reverse("pricing")]
    for url in pages:
        html = client.get(url).content.decode()
        for style in active:
            assert sample_url(style) in html, (url, style.slug)
    client.force_login(user)
    studio = client.get(reverse("studio", args=[workspace.slug])).content.decode()
    assert all(sample_url(style) in studio for style in active)


def test_staff_replace_a_sample_by_uploading_it_in_the_admin(client, style):
    staff_signed_in(client, UserFactory(is_staff=True, is_superuser=True))
    services.style_set_sample(style=style, image=Image.new("RGB", (600, 600), (0, 0, 255)))
    rendered = style.sample.name
    change = reverse("admin:generation_style_change", args=[style.pk])
    form = {
        "name": style.name,
        "slug": style.slug,
        "description": style.description,
        "tier": style.tier,
        "is_active": "on",
        "position": style.position,
        "prompt": style.prompt,
        "negative_prompt": style.negative_prompt,
        "sample": io.BytesIO(_png((250, 0, 0), size=(1200, 800))),
    }
    form["sample"].name = "new-look.png"

    response = client.post(change, form)

    assert response.status_code == 302, response.content.decode()[:2000]
    style.refresh_from_db()
    assert style.sample.name != rendered
    assert not style.sample.storage.exists(rendered)
    with style.sample.open("rb") as stored:
        image = Image.open(stored)
        assert image.size == (512, 512) and image.format == "JPEG"
        assert image.getpixel((256, 256))[0] > 200


def test_the_api_lists_every_style_with_its_sample_picture_as_an_absolute_url(
    client, api, workspace, style
):
    services.style_set_sample(style=style, image=Image.open(io.BytesIO(_png((10, 200, 30)))))

    catalog = {item["slug"]: item for item in api.get(reverse("api_styles")).json()}
    as_seen = api.get(reverse("api_workspace_styles", args=[workspace.pk])).json()

    assert catalog["corporate-grey"]["sample_url"] == f"http://testserver{sample_url(style)}"
    assert {item["slug"]: item["sample_url"] for item in as_seen} == {
        slug: item["sample_url"] for slug, item in catalog.items()
    }
    rendered = client.get(catalog["corporate-grey"]["sample_url"])
    assert rendered.status_code == 200 and rendered["Content-Type"] == "image/jpeg"
    # A style with no sample yet points at its drawn placeholder, never at nothing.
    placeholder = client.get(catalog["medical"]["sample_url"])
    assert placeholder.status_code == 200 and placeholder["Content-Type"] == "image/svg+xml"
