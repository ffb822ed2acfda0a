"""Crafted JSON and names are clean 4xx answers that change nothing, never a 500."""

import json

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User, Workspace
from generation.models import Order, QuotaUsage

NESTED = "[" * 50_000 + "]" * 50_000
NESTED_OBJECT = '{"a":' * 50_000 + "1" + "}" * 50_000


@pytest.mark.parametrize("body", [NESTED, NESTED_OBJECT, "{not json", "\xff\xfe"])
@pytest.mark.parametrize("url", ["/api/v1/auth/signup/", "/api/v1/auth/token/"])
def test_unauthenticated_json_endpoints_refuse_unreadable_bodies(db, url, body):
    response = APIClient().post(url, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    assert not User.objects.exists()


def _api_order(api, workspace, body: str):
    return api.post(
        reverse("api_orders", kwargs={"wid": workspace.pk}), body, content_type="application/json"
    )


@pytest.mark.parametrize(
    "body",
    [
        NESTED,
        '{"photo": 1, "styles": ["corporate-grey"], "per_style": Infinity}',
        '{"photo": 1, "styles": ["corporate-grey"], "per_style": NaN}',
        '{"photo": 1, "styles": ["corporate-grey"], "per_style": 1e400}',
    ],
)
def test_api_orders_refuse_unreadable_and_non_finite_json(api, workspace, photo, body):
    response = _api_order(api, workspace, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    assert not Order.objects.for_workspace(workspace).exists()


def _portal_order(client, workspace, body: str):
    return client.post(
        reverse("order_create", kwargs={"workspace_slug": workspace.slug}),
        body,
        content_type="application/json",
        HTTP_ACCEPT="application/json",
    )


@pytest.mark.parametrize(
    ("template", "code"),
    [
        (NESTED, "parse_error"),
        (
            '{"photo": %(photo)s, "styles": ["corporate-grey"], "per_style": Infinity}',
            "parse_error",
        ),
        ('{"photo": %(photo)s, "styles": ["corporate-grey"], "per_style": 1e400}', "parse_error"),
        (
            '{"photo": %(photo)s, "styles": ["corporate-grey"], "per_style": 1.5}',
            "invalid_per_style",
        ),
        ('{"photo": %(photo)s, "styles": ["\\ud800grey"], "per_style": 1}', "invalid_styles"),
        ('{"photo": %(photo)s, "styles": "corporate-grey", "per_style": 1}', "invalid_styles"),
        ('{"photo": "%(photo)s\\u0000", "styles": ["corporate-grey"]}', "photo_required"),
        ('["photo", "styles"]', "parse_error"),
    ],
)
def test_portal_order_refuses_crafted_json_like_the_api(
    logged_in, workspace, photo, free_style, template, code
):
    response = _portal_order(logged_in, workspace, template % {"photo": photo.pk})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert not Order.objects.for_workspace(workspace).exists()
    assert not QuotaUsage.objects.for_workspace(workspace).filter(used__gt=0).exists()


@pytest.mark.parametrize(
    ("slug", "code"), [("a", "invalid_styles"), ("corporate-grey", "request_too_large")]
)
def test_portal_order_refuses_a_quarter_million_styles(
    logged_in, workspace, photo, free_style, slug, code
):
    body = json.dumps({"photo": photo.pk, "styles": [slug] * 250_000})
    response = _portal_order(logged_in, workspace, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert not Order.objects.for_workspace(workspace).exists()


def test_overlong_style_lists_are_refused_before_any_slug_is_checked(monkeypatch):
    """The list's length is checked first: a long list costs one len(), not one regex each."""
    from rest_framework import fields

    from generation.serializers import OrderCreateSerializer

    checked = []
    original = fields.CharField.run_validation
    monkeypatch.setattr(
        fields.CharField,
        "run_validation",
        lambda self, data=fields.empty: checked.append(data) or original(self, data),
    )
    data = OrderCreateSerializer(data={"photo": 1, "styles": ["corporate-grey"] * 51})
    assert not data.is_valid()
    assert data.errors["styles"][0].code == "max_length"
    assert checked == []


@pytest.mark.parametrize(
    "name", ["Acme\r\nBcc: victim@example.com", "Tab\there", "Right\u202eto left", "Line\u2028two"]
)
def test_workspace_names_refuse_control_characters(api, client, user, name):
    response = api.post(reverse("api_workspaces"), {"name": name}, format="json")
    assert response.status_code == 400
    # Refused by the name field, whose pattern the schema publishes.
    error = response.json()["error"]
    assert (error["code"], list(error["fields"])) == ("invalid", ["name"])
    assert "no line breaks" in error["message"]

    client.force_login(user)
    page = client.post("/dashboard/", {"name": name})
    assert page.status_code == 200 and "no line breaks" in page.content.decode()
    assert not Workspace.objects.filter(kind=Workspace.Kind.TEAM).exists()


def test_workspace_names_keep_emoji_and_accents(api):
    response = api.post(reverse("api_workspaces"), {"name": "Équipe 👩\u200d💻"}, format="json")
    assert response.status_code == 201
