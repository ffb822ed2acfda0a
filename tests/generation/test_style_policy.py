"""Team workspaces: owners and admins choose which catalog styles members may order."""

from dataclasses import replace

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from accounts.models import Workspace
from generation import selectors, services
from generation.models import Order, QuotaUsage, WorkspaceAllowedStyle
from tests.conftest import api_client_for
from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory, checked_photo

from . import imagefiles
from .conftest import PREMIUM, set_entitlements

TEAM = replace(PREMIUM, plan="team")


@pytest.fixture
def team(monkeypatch):
    set_entitlements(monkeypatch, TEAM)
    return TEAM


@pytest.fixture
def colleague_photo(workspace, colleague):
    return checked_photo(
        services.photo_upload(
            workspace=workspace, user=colleague, upload=imagefiles.upload(imagefiles.jpeg())
        )
    )


def _allow(workspace, user, *styles):
    return services.workspace_styles_set(
        workspace=workspace, user=user, style_slugs=[style.slug for style in styles]
    )


def test_admin_sets_the_allowed_styles_and_an_empty_list_lifts_them(
    team, workspace, user, free_style, second_free_style, premium_style
):
    assert _allow(workspace, user, premium_style, free_style) == [free_style, premium_style]

    choices = {c.style.slug: c for c in selectors.styles_for_workspace(workspace=workspace)}
    assert choices[free_style.slug].allowed and choices[premium_style.slug].allowed
    assert not choices[second_free_style.slug].allowed
    assert not choices[second_free_style.slug].chosen_by_admin

    assert _allow(workspace, user) == []
    assert not WorkspaceAllowedStyle.objects.for_workspace(workspace).exists()
    assert all(c.allowed for c in selectors.styles_for_workspace(workspace=workspace))


def test_members_order_for_a_style_left_out_is_refused_and_reserves_no_quota(
    team, workspace, user, colleague, colleague_photo, free_style, second_free_style
):
    _allow(workspace, user, free_style)

    client = api_client_for(colleague)
    response = client.post(
        reverse("api_orders", kwargs={"wid": workspace.pk}),
        {"photo": colleague_photo.pk, "styles": [second_free_style.slug], "per_style": 1},
        format="json",
    )

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "style_not_allowed"
    assert second_free_style.name in error["message"] and "admin" in error["message"]
    assert not Order.objects.for_workspace(workspace).exists()
    assert not QuotaUsage.objects.for_workspace(workspace).filter(used__gt=0).exists()

    order = services.order_create(
        workspace=workspace,
        user=colleague,
        photo=colleague_photo,
        style_slugs=[free_style.slug],
        per_style=1,
    )
    assert list(order.styles.all()) == [free_style]


def test_personal_workspace_cannot_restrict_styles(team, user, free_style):
    personal = MembershipFactory(
        user=user, workspace=WorkspaceFactory(kind=Workspace.Kind.PERSONAL)
    ).workspace

    with pytest.raises(ValidationError) as raised:
        _allow(personal, user, free_style)

    assert raised.value.code == "team_plan_required"
    assert not WorkspaceAllowedStyle.objects.for_workspace(personal).exists()


def test_team_workspace_off_the_team_plan_can_lift_but_not_set(
    premium, workspace, user, free_style
):
    with pytest.raises(ValidationError) as raised:
        _allow(workspace, user, free_style)
    assert raised.value.code == "team_plan_required"

    assert _allow(workspace, user) == []


def test_unknown_style_is_refused_and_keeps_the_old_set(team, workspace, user, free_style):
    _allow(workspace, user, free_style)

    with pytest.raises(ValidationError) as raised:
        services.workspace_styles_set(
            workspace=workspace, user=user, style_slugs=[free_style.slug, "no-such-style"]
        )

    assert raised.value.code == "unknown_style"
    assert selectors.workspace_allowed_style_ids(workspace=workspace) == {free_style.pk}


def test_member_cannot_set_styles(team, workspace, colleague, free_style, client):
    with pytest.raises(PermissionDenied):
        _allow(workspace, colleague, free_style)

    client.force_login(colleague)
    url = reverse("workspace_styles", kwargs={"workspace_slug": workspace.slug})
    assert client.post(url, {"styles": [free_style.slug]}).status_code == 403
    assert not WorkspaceAllowedStyle.objects.for_workspace(workspace).exists()

    page = client.get(url)
    assert page.status_code == 200
    assert b'name="styles"' not in page.content


def test_non_member_cannot_set_styles(team, workspace, free_style):
    with pytest.raises(PermissionDenied):
        _allow(workspace, UserFactory(), free_style)


def test_admin_saves_styles_from_the_portal_page(team, workspace, user, free_style, client):
    client.force_login(user)
    url = reverse("workspace_styles", kwargs={"workspace_slug": workspace.slug})

    page = client.get(url)
    assert page.status_code == 200 and b'name="styles"' in page.content

    response = client.post(url, {"styles": [free_style.slug]})
    assert response.status_code == 302
    assert selectors.workspace_allowed_style_ids(workspace=workspace) == {free_style.pk}


def test_studio_and_api_show_what_the_workspace_allows(
    team, workspace, user, colleague, free_style, second_free_style, client
):
    _allow(workspace, user, free_style)

    body = api_client_for(colleague).get(
        reverse("api_workspace_styles", kwargs={"wid": workspace.pk})
    )
    assert body.status_code == 200
    allowed = {item["slug"]: item["allowed"] for item in body.json()}
    assert allowed[free_style.slug] and not allowed[second_free_style.slug]

    client.force_login(colleague)
    studio = client.get(reverse("studio", kwargs={"workspace_slug": workspace.slug}))
    assert b"Not among the styles your workspace admin" in studio.content
