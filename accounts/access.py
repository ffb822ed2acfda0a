"""Access helpers that fail closed.

A workspace the user is not a member of answers 404, exactly like one that does not
exist, so outsiders learn nothing. A member whose role is too low for an action gets
403: they can already see the workspace.
"""

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from .models import Membership, Role, Workspace


def workspaces_for_user(user) -> QuerySet[Workspace]:
    if not user.is_authenticated:
        return Workspace.objects.none()
    return Workspace.objects.filter(memberships__user=user)


def _membership(user, **workspace_lookup) -> Membership:
    if not user.is_authenticated:
        raise Http404("No such workspace.")
    try:
        return Membership.objects.select_related("workspace").get(
            user=user, **{f"workspace__{key}": value for key, value in workspace_lookup.items()}
        )
    except (Membership.DoesNotExist, ValueError, TypeError):
        raise Http404("No such workspace.") from None


def _require(membership: Membership, min_role: str) -> Membership:
    if not membership.has_role(min_role):
        raise PermissionDenied(
            f"This needs the {Role(min_role).label.lower()} role in this workspace."
        )
    return membership


def access_membership_by_slug(user, slug: str, *, min_role: str = Role.MEMBER) -> Membership:
    return _require(_membership(user, slug=slug), min_role)


def access_membership_by_id(user, workspace_id, *, min_role: str = Role.MEMBER) -> Membership:
    return _require(_membership(user, pk=workspace_id), min_role)


def access_workspace_by_slug(user, slug: str, *, min_role: str = Role.MEMBER) -> Workspace:
    return access_membership_by_slug(user, slug, min_role=min_role).workspace


def access_workspace_by_id(user, workspace_id, *, min_role: str = Role.MEMBER) -> Workspace:
    return access_membership_by_id(user, workspace_id, min_role=min_role).workspace
