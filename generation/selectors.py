"""Reads for the portal, the API and the worker. Writes live in generation.services.

Visibility inside a workspace: a selfie is seen only by the person who uploaded it;
an order (and its headshots) by whoever placed it and by the workspace's owners and
admins, who pay for it. Anything else answers 404, like a missing object.
"""

import functools
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import UTC, date

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Prefetch, QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.models import Membership, Role, Workspace
from billing.models import PlanCode
from billing.plans import entitlements

from . import framing, images
from .likeness import best_match_first
from .models import (
    FreeAllowanceUsage,
    Headshot,
    Order,
    QuotaUsage,
    SourcePhoto,
    Style,
    WorkspaceAllowedStyle,
)


def quota_period(moment=None) -> date:
    """The quota month a moment falls in: its first day, UTC."""
    moment = (moment or timezone.now()).astimezone(UTC)
    return moment.date().replace(day=1)


def next_quota_period(period: date) -> date:
    return date(period.year + period.month // 12, period.month % 12 + 1, 1)


@dataclass(frozen=True)
class QuotaStatus:
    plan: str
    quota: int
    used: int
    resets_on: date
    # True: `used` and `quota` are one person's free allowance, shared by every free
    # workspace they order in; False: the workspace's own plan quota (or, without a
    # person, what was ordered in the workspace).
    per_person: bool

    @property
    def remaining(self) -> int:
        return max(self.quota - self.used, 0)


def quota_status(*, workspace: Workspace, user=None) -> QuotaStatus:
    """This month's quota as `user` may use it in `workspace`.

    On the free plan that is the user's own free allowance; without a user (the admin),
    it is what was ordered in the workspace against the plan's quota."""
    period = quota_period()
    rights = entitlements(workspace)
    per_person = rights.quota_per_person and user is not None
    if per_person:
        usage = FreeAllowanceUsage.objects.filter(user=user, period=period).first()
    else:
        usage = QuotaUsage.objects.for_workspace(workspace).filter(period=period).first()
    return QuotaStatus(
        plan=rights.plan,
        quota=rights.monthly_quota,
        used=usage.used if usage else 0,
        resets_on=next_quota_period(period),
        per_person=per_person,
    )


def styles_active() -> QuerySet[Style]:
    return Style.objects.filter(is_active=True)


def workspace_can_choose_styles(*, workspace: Workspace) -> bool:
    """Whether the workspace's admins may restrict its styles: a Team workspace on Team."""
    return workspace.kind == Workspace.Kind.TEAM and entitlements(workspace).plan == PlanCode.TEAM


def workspace_allowed_style_ids(*, workspace: Workspace) -> frozenset[int] | None:
    """The styles a Team workspace's admins allow, or None when they restrict nothing."""
    ids = frozenset(
        WorkspaceAllowedStyle.objects.for_workspace(workspace).values_list("style_id", flat=True)
    )
    return ids or None


@dataclass(frozen=True)
class StyleChoice:
    """A catalog style as one workspace sees it: its plan and its admins both decide."""

    style: Style
    in_plan: bool
    chosen_by_admin: bool

    @property
    def allowed(self) -> bool:
        return self.in_plan and self.chosen_by_admin


def styles_for_workspace(*, workspace: Workspace) -> list[StyleChoice]:
    """Every active style, with whether this workspace's plan and its admins allow it."""
    rights = entitlements(workspace)
    allowed_ids = workspace_allowed_style_ids(workspace=workspace)
    return [
        StyleChoice(
            style=style,
            in_plan=rights.allows_style_tier(style.tier),
            chosen_by_admin=allowed_ids is None or style.pk in allowed_ids,
        )
        for style in styles_active()
    ]


def photos_for_user(*, workspace: Workspace, user) -> QuerySet[SourcePhoto]:
    """The user's selfies that have not reached their purge time."""
    return SourcePhoto.objects.for_workspace(workspace).filter(
        uploaded_by=user, purge_at__gt=timezone.now()
    )


def photo_get(*, workspace: Workspace, user, photo_id: int) -> SourcePhoto:
    photo = (
        SourcePhoto.objects.for_workspace(workspace).filter(pk=photo_id, uploaded_by=user).first()
    )
    if photo is None:
        raise Http404("No such photo.")
    return photo


def photo_to_check(*, photo_id: int) -> SourcePhoto | None:
    """The GPU worker's read of a photo to face-check: None once it is gone or decided."""
    return (
        SourcePhoto.all_workspaces_unscoped.select_related("workspace")
        .filter(pk=photo_id, check_status=SourcePhoto.CheckStatus.PENDING)
        .first()
    )


def orders_visible(*, membership: Membership) -> QuerySet[Order]:
    orders = Order.objects.for_workspace(membership.workspace)
    if not membership.has_role(Role.ADMIN):
        return orders.filter(placed_by=membership.user)
    # Owners and admins see everyone's orders, each with who placed it.
    return orders.select_related("placed_by")


def orders_show_placer(*, membership: Membership) -> bool:
    """Whether order lists name who placed each order: for a team's owners and admins."""
    return membership.workspace.kind == Workspace.Kind.TEAM and membership.has_role(Role.ADMIN)


def orders_with_results(orders: QuerySet[Order], *, workspace: Workspace) -> QuerySet[Order]:
    headshots = Headshot.objects.for_workspace(workspace).select_related("style")
    return orders.prefetch_related("styles", Prefetch("headshots", queryset=headshots))


def photo_for_order(*, workspace: Workspace, user, photo_id) -> SourcePhoto:
    """The uploader's own selfie to order with; a clear error once it has been purged."""
    photo = (
        SourcePhoto.objects.for_workspace(workspace).filter(pk=photo_id, uploaded_by=user).first()
    )
    if photo is None:
        raise ValidationError(
            "No such selfie here: selfies are deleted 24 hours after upload, or when you "
            "delete them. Upload it again in the studio.",
            code="photo_not_found",
        )
    return photo


def order_get(*, membership: Membership, order_id: int) -> Order:
    orders = orders_with_results(
        orders_visible(membership=membership), workspace=membership.workspace
    )
    order = orders.filter(pk=order_id).first()
    if order is None:
        raise Http404("No such order.")
    return order


@dataclass(frozen=True)
class OrderStatus:
    order: Order
    styles: list[Style]
    headshots: list[Headshot]
    # Redos' headshots shown in this order's gallery (shown_in), from other orders.
    replacements: list[Headshot]


@functools.cache
def _status_sql() -> tuple[str, str]:
    q = connection.ops.quote_name
    styles = (
        f"SELECT s.{q('id')}, s.{q('slug')}, s.{q('name')}, s.{q('position')} "
        f"FROM {q(Style._meta.db_table)} s INNER JOIN {q(Order.styles.through._meta.db_table)} t "
        f"ON t.{q('style_id')} = s.{q('id')} WHERE t.{q('order_id')} = %s"
    )
    columns = ("id", "workspace_id", "order_id", "style_id", "index", "width", "height")
    more = ("likeness", "chosen_at", "created_at", "replaced_by_id", "shown_in_id")
    headshots = (
        f"SELECT {', '.join(q(c) for c in (*columns, *more))} "
        f"FROM {q(Headshot._meta.db_table)} "
        f"WHERE ({q('order_id')} = %s OR {q('shown_in_id')} = %s) AND {q('workspace_id')} = %s"
    )
    return styles, headshots


def order_status_get(*, membership: Membership, order_id: int) -> OrderStatus:
    """order_get for the status poll, the busiest read there is (every open order page
    and API client, every couple of seconds): the same visibility and the same result,
    but the order's styles and headshots come from one plain SQL query each instead
    of the ORM's prefetch, which took more CPU than the whole rest of the request.
    Headshots are filtered by the order's workspace here, by hand, as the scoped
    manager would."""
    # A slice, not .first(): one row by primary key needs no ORDER BY to build.
    found = list(orders_visible(membership=membership).filter(pk=order_id).order_by()[:1])
    if not found:
        raise Http404("No such order.")
    order = found[0]
    styles_sql, headshots_sql = _status_sql()
    styles = sorted(Style.objects.raw(styles_sql, [order.pk]), key=lambda s: (s.position, s.name))
    by_id = {style.pk: style for style in styles}
    rows = list(
        Headshot.all_workspaces_unscoped.raw(
            headshots_sql, [order.pk, order.pk, order.workspace_id]
        )
    )
    for headshot in rows:
        # A headshot's style is one of its order's (headshot_create checks it), and a
        # redo's is the style of the headshot it replaced.
        headshot.style = by_id.get(headshot.style_id) or Style.objects.get(pk=headshot.style_id)
    rows.sort(key=lambda h: (h.style.position, h.style.name, h.index))
    return OrderStatus(
        order=order,
        styles=styles,
        headshots=[h for h in rows if h.order_id == order.pk],
        replacements=[h for h in rows if h.order_id != order.pk],
    )


def order_replacements(*, order: Order) -> list[Headshot]:
    """Redos' headshots that took a place in this order's gallery."""
    return list(
        Headshot.objects.for_workspace(order.workspace)
        .filter(shown_in=order)
        .exclude(order=order)
        .select_related("style")
    )


@dataclass(frozen=True)
class GalleryItem:
    """One place in an order's gallery: the headshot it shows now, and the one that was
    there before a redo replaced it (None for a headshot never redone)."""

    headshot: Headshot
    previous: Headshot | None
    # The order's own headshot that first held this place: the zip names the place
    # after it, so a redo keeps the customer's numbering.
    place: Headshot


def order_gallery(*, headshots: list[Headshot], replacements: list[Headshot]) -> list[GalleryItem]:
    """An order's gallery from its own headshots and the redos shown in it
    (order_replacements): best match first by the headshots it was delivered with,
    each place showing the latest redo of its headshot. A redo keeps the place of the
    headshot it replaced, whatever its own likeness, so that nothing jumps around."""
    by_id = {h.pk: h for h in [*headshots, *replacements]}
    gallery = []
    for headshot in best_match_first(headshots):
        previous, current = None, headshot
        while current.replaced_by_id in by_id:
            previous, current = current, by_id[current.replaced_by_id]
        gallery.append(GalleryItem(headshot=current, previous=previous, place=headshot))
    return gallery


def redo_gallery_id(*, order: Order) -> int | None:
    """For a redo order: the order whose gallery its headshot goes to (the first one's,
    for a redo of a redo); None for other orders, or when the redone headshot is gone."""
    if order.redo_of_id is None:
        return None
    redone = (
        Headshot.objects.for_workspace(order.workspace)
        .filter(pk=order.redo_of_id)
        .values_list("shown_in_id", "order_id")
        .first()
    )
    return redone and (redone[0] or redone[1])


@dataclass(frozen=True)
class RedoState:
    order_id: int
    status: str
    done: int
    total: int
    stage: str

    @property
    def running(self) -> bool:
        return self.status not in Order.FINISHED


def redos_by_headshot(*, workspace: Workspace, headshot_ids: list[int]) -> dict[int, RedoState]:
    """For each of these headshots that someone asked to redo: its newest redo order."""
    if not headshot_ids:
        return {}
    rows = (
        Order.objects.for_workspace(workspace)
        .filter(redo_of__in=headshot_ids)
        .order_by("created_at", "pk")
        .values_list("redo_of", "pk", "status", "done", "total", "stage")
    )
    return {row[0]: RedoState(*row[1:]) for row in rows}


def headshot_get(*, membership: Membership, headshot_id: int) -> Headshot:
    headshot = (
        Headshot.objects.for_workspace(membership.workspace)
        .filter(pk=headshot_id, order__in=orders_visible(membership=membership))
        .select_related("style")
        .first()
    )
    if headshot is None:
        raise Http404("No such headshot.")
    return headshot


@dataclass(frozen=True)
class HeadshotSlot:
    style: Style
    index: int


def order_pending_slots(*, order: Order) -> list[HeadshotSlot]:
    """The (style, index) slots the worker still has to fill, in catalog order."""
    filled = set(order.headshots.values_list("style_id", "index"))
    return [
        HeadshotSlot(style=style, index=index)
        for style in order.styles.order_by("position", "name")
        for index in range(order.per_style)
        if (style.pk, index) not in filled
    ]


def headshot_filename(
    headshot: Headshot, *, crop: framing.Crop | None = None, place: Headshot | None = None
) -> str:
    """`headshot-<order>-<style>-<n>`, numbered after the gallery place it fills
    (`place`, the headshot a redo replaced) when it is given."""
    named = place or headshot
    stem = f"headshot-{named.order_id}-{named.style.slug}-{named.index + 1}"
    if crop is not None:
        return f"{stem}-{crop.slug}.jpg"
    return f"{stem}.{headshot.file.name.rsplit('.', 1)[-1]}"


def headshot_crop(headshot: Headshot, crop: framing.Crop) -> bytes:
    with headshot.file.open("rb") as source:
        return images.crop_headshot(source.read(), crop)


def order_zip(*, order: Order):
    """A zip of the order's gallery (a redone headshot's replacement in its place), as an
    open temporary file positioned at 0.

    Headshots are already compressed images, so they are stored, not deflated.
    Spooled to disk past 32 MB: a 4K order can be hundreds of megabytes.
    """
    spool = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)
    gallery = order_gallery(
        headshots=list(order.headshots.select_related("style")),
        replacements=order_replacements(order=order),
    )
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED) as archive:
        for item in gallery:
            headshot = item.headshot
            with (
                headshot.file.open("rb") as source,
                archive.open(
                    headshot_filename(headshot, place=item.place), "w", force_zip64=True
                ) as target,
            ):
                while chunk := source.read(1024 * 1024):
                    target.write(chunk)
            # The face-centred crops, in their own folders, for a profile and a website.
            for crop in framing.CROPS.values():
                archive.writestr(
                    f"{crop.slug}/{headshot_filename(headshot, crop=crop, place=item.place)}",
                    headshot_crop(headshot, crop),
                )
    spool.seek(0)
    return spool


class MemberStage:
    """How far a team member has come, in the order a team owner follows it."""

    INVITED = "invited"
    JOINED = "joined"
    SELFIE_UPLOADED = "selfie_uploaded"
    HEADSHOTS_READY = "headshots_ready"
    LABELS = {
        INVITED: "Invited",
        JOINED: "Joined",
        SELFIE_UPLOADED: "Selfie uploaded",
        HEADSHOTS_READY: "Headshots ready",
    }


@dataclass(frozen=True)
class MemberProgress:
    stage: str
    headshots: int
    chosen: int

    @property
    def label(self) -> str:
        return MemberStage.LABELS[self.stage]


def team_member_progress(*, workspace: Workspace) -> dict[int, MemberProgress]:
    """Each member's stage by user id, in a fixed number of queries whatever the team's size.

    A selfie lives 24 hours, so an order placed counts as "selfie uploaded" too.
    """
    uploaded = set(
        SourcePhoto.objects.for_workspace(workspace)
        .exclude(uploaded_by=None)
        .values_list("uploaded_by", flat=True)
    )
    ordered = set(
        Order.objects.for_workspace(workspace)
        .exclude(placed_by=None)
        .values_list("placed_by", flat=True)
    )
    delivered: dict[int, int] = {}
    chosen: dict[int, int] = {}
    for placed_by, chosen_at in Headshot.objects.for_workspace(workspace).values_list(
        "order__placed_by", "chosen_at"
    ):
        delivered[placed_by] = delivered.get(placed_by, 0) + 1
        if chosen_at is not None:
            chosen[placed_by] = chosen.get(placed_by, 0) + 1
    progress = {}
    for user_id in workspace.memberships.values_list("user_id", flat=True):
        if delivered.get(user_id):
            stage = MemberStage.HEADSHOTS_READY
        elif user_id in uploaded or user_id in ordered:
            stage = MemberStage.SELFIE_UPLOADED
        else:
            stage = MemberStage.JOINED
        progress[user_id] = MemberProgress(
            stage=stage, headshots=delivered.get(user_id, 0), chosen=chosen.get(user_id, 0)
        )
    return progress


def team_chosen_headshots(*, workspace: Workspace) -> QuerySet[Headshot]:
    """Every current member's chosen headshots."""
    return (
        Headshot.objects.for_workspace(workspace)
        .filter(chosen_at__isnull=False, order__placed_by__memberships__workspace=workspace)
        .select_related("style", "order__placed_by")
        .order_by("order__placed_by__email", "chosen_at")
    )


def team_chosen_zip(*, workspace: Workspace):
    """One zip of the chosen headshots, a folder per member, as an open temporary file."""
    spool = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED) as archive:
        for headshot in team_chosen_headshots(workspace=workspace):
            person = headshot.order.placed_by.email.replace("@", "_at_")
            with (
                headshot.file.open("rb") as source,
                archive.open(
                    f"{person}/{headshot_filename(headshot)}", "w", force_zip64=True
                ) as target,
            ):
                while chunk := source.read(1024 * 1024):
                    target.write(chunk)
    spool.seek(0)
    return spool
