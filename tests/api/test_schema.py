"""The OpenAPI schema states every answer an operation can give, and every constraint
on what it takes; the server holds to the same constraints."""

import re

import pytest
from django.urls import reverse
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from core.pagination import MAX_LIMIT
from generation.models import Style
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db

METHODS = {"get", "post", "put", "patch", "delete"}
# Reads that a member without the admin role is refused (accounts.access role checks).
ROLE_GUARDED_READS = {"/api/v1/workspaces/{wid}/invitations/"}


def test_the_whole_schema_builds_without_warnings():
    GENERATOR_STATS.reset()
    SchemaGenerator().get_schema(request=None, public=True)
    assert not GENERATOR_STATS, "drf-spectacular warned about the API"


@pytest.fixture
def schema():
    response = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method.upper(), operation


def error_codes(operation, status: int) -> list[str]:
    body = operation["responses"][str(status)]["content"]["application/json"]["schema"]
    assert body["required"] == ["error"]
    error = body["properties"]["error"]
    assert error["required"] == ["code", "message"]
    return error["properties"]["code"]["enum"]


def test_every_error_answer_has_the_error_body(schema):
    for path, method, operation in operations(schema):
        errors = [status for status in operation["responses"] if int(status) >= 400]
        assert errors, f"{method} {path} documents no error"
        for status in errors:
            assert error_codes(operation, int(status)), f"{method} {path} {status}"
            assert operation["responses"][status]["description"]


def test_statuses_follow_from_what_each_view_is_made_of(schema):
    for path, method, operation in operations(schema):
        responses = operation["responses"]
        parameters = operation.get("parameters", [])
        label = f"{method} {path}"
        if operation.get("security") and {} not in operation["security"]:
            assert error_codes(operation, 401) == ["authentication_failed", "not_authenticated"]
            # Session authentication's CSRF check can refuse any unsafe method.
            assert ("403" in responses) == (method != "GET" or path in ROLE_GUARDED_READS), label
        if any(parameter["in"] == "path" for parameter in parameters):
            assert "not_found" in error_codes(operation, 404), label
        if "requestBody" in operation:
            assert {"invalid", "parse_error"} <= set(error_codes(operation, 400)), label
            assert error_codes(operation, 415) == ["unsupported_media_type"], label
        if any(parameter["in"] == "query" for parameter in parameters):
            assert "invalid" in error_codes(operation, 400), label


def test_throttled_operations_document_429_and_others_do_not(schema):
    throttled = {
        (path, method)
        for path, method, operation in operations(schema)
        if "429" in operation["responses"]
    }
    assert throttled == {
        ("/api/v1/auth/signup/", "POST"),
        ("/api/v1/auth/token/", "POST"),
        ("/api/v1/workspaces/{wid}/photos/", "POST"),
        ("/api/v1/workspaces/{wid}/orders/", "POST"),
        ("/api/v1/workspaces/{wid}/orders/{order_id}/more/", "POST"),
        ("/api/v1/workspaces/{wid}/headshots/{headshot_id}/redo/", "POST"),
        ("/api/v1/plans/", "GET"),
    }


def test_throttle_and_authentication_answers_document_their_headers(schema):
    order_create = schema["paths"]["/api/v1/workspaces/{wid}/orders/"]["post"]["responses"]
    assert set(order_create["429"]["headers"]) == {"Retry-After"}
    assert set(order_create["401"]["headers"]) == {"WWW-Authenticate"}


def test_view_specific_errors_are_merged_with_the_generic_ones(schema):
    order_create = schema["paths"]["/api/v1/workspaces/{wid}/orders/"]["post"]
    assert error_codes(order_create, 402) == ["quota_exceeded", "upgrade_required"]
    assert error_codes(order_create, 404) == ["not_found", "photo_not_found"]
    assert error_codes(order_create, 409) == ["photo_expired"]
    assert {"invalid", "parse_error", "unknown_style"} <= set(error_codes(order_create, 400))
    checkout = schema["paths"]["/api/v1/workspaces/{wid}/billing/checkout/"]["post"]
    assert "already_subscribed" in error_codes(checkout, 409)
    assert "billing_not_configured" in error_codes(checkout, 503)


def component(schema, name):
    return schema["components"]["schemas"][name]["properties"]


def test_request_fields_carry_their_real_constraints(schema):
    free_style = Style.objects.filter(is_active=True, tier="free").first()
    order = component(schema, "OrderCreateRequest")
    assert (order["per_style"]["minimum"], order["per_style"]["maximum"]) == (1, 10)
    assert (order["styles"]["minItems"], order["styles"]["maxItems"]) == (1, 50)
    catalog = order["styles"]["items"]["allOf"][0]["$ref"].split("/")[-1]
    assert free_style.slug in schema["components"]["schemas"][catalog]["enum"]
    assert component(schema, "CredentialsRequest")["email"]["format"] == "email"
    assert component(schema, "InvitationCreateRequest")["email"]["format"] == "email"
    name = component(schema, "WorkspaceCreateRequest")["name"]
    pattern = re.compile(name["pattern"])
    assert name["maxLength"] == 100
    assert pattern.match("Équipe 👩\u200d💻") and not pattern.match("   ")
    assert not pattern.match("Acme\r\nBcc: x") and not pattern.match("a\u202eb")
    assert component(schema, "CheckoutRequest")["seats"]["maximum"] == 1000

    upload = schema["paths"]["/api/v1/workspaces/{wid}/photos/"]["post"]["requestBody"]
    assert list(upload["content"]) == ["multipart/form-data"]
    multipart = upload["content"]["multipart/form-data"]
    image = schema["components"]["schemas"][multipart["schema"]["$ref"].split("/")[-1]]
    assert image["properties"]["image"]["format"] == "binary"
    assert "image/jpeg" in multipart["encoding"]["image"]["contentType"]

    orders = schema["paths"]["/api/v1/workspaces/{wid}/orders/"]["get"]["parameters"]
    limit = next(p for p in orders if p["name"] == "limit")["schema"]
    assert (limit["minimum"], limit["maximum"]) == (1, MAX_LIMIT)
    offset = next(p for p in orders if p["name"] == "offset")["schema"]
    assert offset["minimum"] == 0


@pytest.mark.parametrize("query", ["limit=0", f"limit={MAX_LIMIT + 1}", "limit=ten", "offset=-1"])
def test_a_page_outside_the_documented_bounds_is_a_400(api, workspace, query):
    response = api.get(reverse("api_orders", kwargs={"wid": workspace.pk}) + "?" + query)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {query.split("=")[0]}


def test_the_largest_documented_page_is_served(api, workspace):
    url = reverse("api_orders", kwargs={"wid": workspace.pk})
    response = api.get(f"{url}?limit={MAX_LIMIT}&offset=0")
    assert response.status_code == 200
    assert response.json()["results"] == []


@pytest.mark.parametrize("name", [0, 12.5, True, "   "])
def test_a_workspace_name_that_is_not_text_is_refused(api, name):
    response = api.post(reverse("api_workspaces"), {"name": name}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"name"}


def test_a_non_boolean_download_flag_is_a_400(user, workspace):
    from tests.generation.tenant_objects import generation_object_ids

    headshot_id = generation_object_ids(workspace, user)["headshot_id"]
    url = reverse("api_headshot_image", kwargs={"wid": workspace.pk, "headshot_id": headshot_id})
    client = api_client_for(user)
    assert client.get(url + "?download=maybe").status_code == 400
    answer = client.get(url + "?download=true")
    assert answer.status_code == 200
    assert answer["Content-Disposition"].startswith("attachment")
    assert client.get(url).status_code == 200


def test_each_style_documents_its_sample_picture_url(schema):
    for name in ("Style", "WorkspaceStyle"):
        component = schema["components"]["schemas"][name]
        assert component["properties"]["sample_url"]["format"] == "uri", name
        assert "sample_url" in component["required"], name
