"""Outsiders learn nothing: every workspace-scoped URL answers them exactly as it
answers for a workspace that does not exist, and that answer is 404.

The URL patterns are enumerated from the URL conf, so an endpoint added later is
covered without anyone remembering to add it here. An unknown URL keyword fails the
test until it is given a value below.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.scoping import UnscopedQueryError, WorkspaceScopedManager
from tests.conftest import api_client_for
from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory

WORKSPACE_KWARGS = {"workspace_slug", "wid"}
MISSING_WORKSPACE = {"workspace_slug": "no-such-workspace", "wid": 987654321}


def _keywords(pattern) -> list[str]:
    return list(getattr(pattern.pattern, "converters", {}))


def _walk(patterns, prefix="", keywords=()):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(
                entry.url_patterns,
                prefix + str(entry.pattern),
                (*keywords, *_keywords(entry)),
            )
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), [*keywords, *_keywords(entry)]


def workspace_scoped_routes() -> list[tuple[str, list[str]]]:
    return [
        (route, names)
        for route, names in _walk(get_resolver().url_patterns)
        if WORKSPACE_KWARGS & set(names)
    ]


def _fill(route: str, names: list[str], values: dict) -> str:
    path = route
    for name in names:
        if name not in values:
            raise AssertionError(f"{route}: give the URL keyword {name!r} a value in this test")
        path = path.replace(f"<{_converter(route, name)}{name}>", str(values[name]))
    assert "<" not in path, path
    return "/" + path


def _converter(route: str, name: str) -> str:
    start = route.index(f"{name}>")
    opening = route.rindex("<", 0, start)
    return route[opening + 1 : start]


@pytest.fixture
def victim(db):
    workspace = WorkspaceFactory(name="Victim Workspace Ltd")
    MembershipFactory(workspace=workspace)
    return workspace


@pytest.fixture
def object_ids(victim):
    """Real objects of the victim's, so a check that looks only at the object is caught."""
    from tests.tenant_objects import victim_object_ids

    return victim_object_ids(victim)


def test_the_url_conf_has_workspace_scoped_routes():
    routes = workspace_scoped_routes()
    assert any("wid" in names for _, names in routes)
    assert any("workspace_slug" in names for _, names in routes)


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_outsiders_get_404_on_every_workspace_scoped_url(client, victim, object_ids, method):
    outsider = UserFactory()
    client.force_login(outsider)
    api = api_client_for(outsider)
    checked = 0
    for route, names in workspace_scoped_routes():
        is_api = route.startswith("api/")
        agent = api if is_api else client
        real = _fill(route, names, {**object_ids, "workspace_slug": victim.slug, "wid": victim.pk})
        missing = _fill(route, names, {**object_ids, **MISSING_WORKSPACE})
        answer = getattr(agent, method)(real)
        baseline = getattr(agent, method)(missing)
        assert answer.status_code == baseline.status_code, (method, real)
        assert answer.status_code in (404, 405), (method, real, answer.status_code)
        assert victim.name not in answer.content.decode(errors="ignore"), real
        checked += answer.status_code == 404
    assert checked, "no workspace-scoped route answered 404"


def test_workspace_owned_models_cannot_be_listed_without_a_workspace():
    from django.apps import apps

    scoped = [
        model
        for model in apps.get_models()
        if isinstance(model.__dict__.get("objects", None), WorkspaceScopedManager)
        or isinstance(getattr(model, "objects", None), WorkspaceScopedManager)
    ]
    assert scoped, "no workspace-owned model found"
    for model in scoped:
        with pytest.raises(UnscopedQueryError):
            model.objects.all()
        with pytest.raises(UnscopedQueryError):
            model.objects.for_workspace(None)
