"""The style catalog as orders see it, and a team's choice of allowed styles."""

import logging
import uuid
from collections.abc import Sequence

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image

from accounts.models import Membership, Role, User, Workspace

from ..models import Style, WorkspaceAllowedStyle
from ..samples import sample_jpeg
from ..selectors import workspace_can_choose_styles

logger = logging.getLogger(__name__)


def _style_slugs(style_slugs: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(slug.strip() for slug in style_slugs if slug and slug.strip()))


def styles_from_slugs(style_slugs: Sequence[str]) -> list[Style]:
    slugs = _style_slugs(style_slugs)
    if not slugs:
        raise ValidationError("Pick at least one style.", code="styles_required")
    return _styles_by_slug(slugs)


def _styles_by_slug(slugs: list[str]) -> list[Style]:
    """The active styles named by `slugs`, in that order; unknown ones raise `unknown_style`."""
    found = {style.slug: style for style in Style.objects.filter(slug__in=slugs, is_active=True)}
    unknown = [slug for slug in slugs if slug not in found]
    if unknown:
        raise ValidationError(
            f"No such style: {', '.join(unknown)}. See the style catalog for the ones on offer.",
            code="unknown_style",
        )
    return [found[slug] for slug in slugs]


def workspace_styles_set(
    *, workspace: Workspace, user: User, style_slugs: Sequence[str]
) -> list[Style]:
    """Replace the styles a Team workspace's members may order; returns them in catalog order.

    An empty list lifts the restriction (every style the plan allows). Raises
    PermissionDenied unless `user` is an owner or admin of `workspace`, and
    ValidationError for a workspace that is not a Team workspace on the Team plan
    (`team_plan_required`) or an unknown style (`unknown_style`).
    """
    # Checked here, not only in the views: this is the one write path, so it fails
    # closed for any caller.
    membership = Membership.objects.filter(workspace=workspace, user=user).first()
    if membership is None or not membership.has_role(Role.ADMIN):
        raise PermissionDenied("Only the workspace's owners and admins can choose its styles.")
    slugs = _style_slugs(style_slugs)
    # Lifting a restriction stays possible after a downgrade, so a former Team workspace
    # is never stuck with a set it can no longer edit.
    lifting = not slugs and workspace.kind == Workspace.Kind.TEAM
    if not lifting and not workspace_can_choose_styles(workspace=workspace):
        raise ValidationError(
            "Choosing the styles members may order is part of the Team plan, for team workspaces.",
            code="team_plan_required",
        )
    styles = _styles_by_slug(slugs) if slugs else []
    with transaction.atomic():
        allowed = WorkspaceAllowedStyle.objects.for_workspace(workspace)
        allowed.delete()
        allowed.bulk_create(
            [WorkspaceAllowedStyle(workspace=workspace, style=style) for style in styles]
        )
    logger.info(
        "Workspace %s styles set by user %s: %s",
        workspace.pk,
        user.pk,
        ", ".join(style.slug for style in styles) or "unrestricted",
        extra={"workspace_id": workspace.pk},
    )
    return sorted(styles, key=lambda style: (style.position, style.name))


def style_set_sample(*, style: Style, image: Image.Image) -> Style:
    """Make `image` the style's sample (squared and sized for the pages), replacing any
    earlier one. The render command and the admin's upload both come through here."""
    previous = style.sample.name if style.sample else ""
    style.sample.save(f"{style.slug}-{uuid.uuid4().hex[:8]}.jpg", ContentFile(sample_jpeg(image)))
    if previous:
        style.sample.storage.delete(previous)
    logger.info("Style %s: new sample %s", style.slug, style.sample.name)
    return style
