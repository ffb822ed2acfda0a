"""Team pages that read generation: the members page (who is in, how far each person
got, seats), members choosing their headshots, and the zip of every member's choice for
the company's website."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from accounts import services as account_services
from accounts.access import access_membership_by_slug
from accounts.forms import BulkInviteForm, InvitationForm
from accounts.models import Role
from billing.plans import entitlements

from . import selectors, services
from .api import file_response
from .views import _wants_json, workspace_view


@workspace_view("POST")
def headshot_choose(request, membership, headshot_id: int):
    headshot = selectors.headshot_get(membership=membership, headshot_id=headshot_id)
    chosen = request.POST.get("chosen", "1") == "1"
    services.headshot_choose(headshot=headshot, user=request.user, chosen=chosen)
    if _wants_json(request):
        return JsonResponse({"id": headshot.pk, "chosen": chosen})
    messages.success(
        request,
        "Chosen: your team's admins will get this one for the website."
        if chosen
        else "No longer chosen.",
    )
    back = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(back)
    return redirect(
        "order_detail", workspace_slug=membership.workspace.slug, order_id=headshot.order_id
    )


@workspace_view("GET")
def team_chosen_download(request, membership):
    if not membership.has_role(Role.ADMIN):
        raise PermissionDenied("Only owners and admins download the team's headshots.")
    workspace = membership.workspace
    if not selectors.team_chosen_headshots(workspace=workspace).exists():
        messages.error(request, "No member has chosen a headshot yet.")
        return redirect("workspace_members", workspace_slug=workspace.slug)
    return file_response(
        selectors.team_chosen_zip(workspace=workspace),
        content_type="application/zip",
        filename=f"{workspace.slug}-team-headshots-{timezone.now():%Y-%m-%d}.zip",
        download=True,
    )


# The bulk form shares the members page with the single invitation form.
BULK_PREFIX = "bulk"


def _members_page(request, membership, *, form=None, bulk_form=None, bulk_rows=None, status=200):
    """The team dashboard: who is in, how far each person got, seats, invitations."""
    workspace = membership.workspace
    can_manage = membership.has_role(Role.ADMIN)
    members = list(workspace.memberships.select_related("user").order_by("created_at"))
    progress = selectors.team_member_progress(workspace=workspace) if can_manage else {}
    rights = entitlements(workspace)
    invitations = list(
        workspace.invitations.filter(accepted_at=None, revoked_at=None).select_related(
            "email_message"
        )
    )
    seats_bought = rights.seats if rights.plan == "team" else None
    context = {
        "workspace": workspace,
        "membership": membership,
        "members": [
            {"membership": member, "progress": progress.get(member.user_id)} for member in members
        ],
        "invitations": invitations,
        "can_manage": can_manage,
        "is_owner": membership.role == Role.OWNER,
        "roles": Role.choices,
        "form": form or InvitationForm(),
        "bulk_form": bulk_form or BulkInviteForm(prefix=BULK_PREFIX),
        "bulk_rows": bulk_rows or [],
        "seats_bought": seats_bought,
        "seats_used": len(members),
        "seats_short": bool(seats_bought and len(members) + len(invitations) > seats_bought),
        "chosen_count": sum(item.chosen for item in progress.values()),
    }
    return render(request, "accounts/members.html", context, status=status)


@login_required
def workspace_members(request, workspace_slug: str):
    membership = access_membership_by_slug(request.user, workspace_slug)
    workspace = membership.workspace
    if request.method != "POST":
        return _members_page(request, membership)
    if not membership.has_role(Role.ADMIN):
        raise PermissionDenied("Only owners and admins can invite people.")
    form = InvitationForm(request.POST)
    if form.is_valid():
        try:
            invitation = account_services.invitation_create(
                workspace=workspace, invited_by=request.user, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_error("email", error)
        else:
            messages.success(request, f"Invitation sent to {invitation.email}.")
            return redirect("workspace_members", workspace_slug=workspace.slug)
    return _members_page(request, membership, form=form, status=400)


@login_required
def invitations_bulk(request, workspace_slug: str):
    # The workspace is resolved before the method is checked: an outsider gets 404 for
    # every method, never a 405 that confirms the workspace exists.
    membership = access_membership_by_slug(request.user, workspace_slug, min_role=Role.ADMIN)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    workspace = membership.workspace
    form = BulkInviteForm(request.POST, request.FILES, prefix=BULK_PREFIX)
    rows = []
    if form.is_valid():
        try:
            created = account_services.invitations_create_bulk(
                workspace=workspace,
                invited_by=request.user,
                emails=form.cleaned_data["addresses"],
                role=form.cleaned_data["role"],
            )
        except account_services.BulkInvitationRefused as error:
            # Shown row by row above the form, with the list kept for fixing.
            rows = error.rows
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request, f"{len(created)} invitation{'s' if len(created) != 1 else ''} sent."
            )
            return redirect("workspace_members", workspace_slug=workspace.slug)
    return _members_page(request, membership, bulk_form=form, bulk_rows=rows, status=400)
