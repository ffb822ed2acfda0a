from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from . import services
from .access import access_membership_by_slug
from .forms import InvitationForm, WorkspaceForm
from .models import Membership, Role


def landing(request):
    return render(request, "landing.html")


@login_required
def dashboard(request):
    form = WorkspaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            workspace = services.workspace_create(
                owner=request.user, name=form.cleaned_data["name"]
            )
        except ValidationError as error:
            form.add_error("name", error)
        else:
            messages.success(request, f"{workspace.name} is ready. Invite your team.")
            return redirect("workspace_members", workspace_slug=workspace.slug)
    memberships = (
        Membership.objects.filter(user=request.user)
        .select_related("workspace")
        .order_by("workspace__kind", "workspace__name")
    )
    return render(request, "accounts/dashboard.html", {"memberships": memberships, "form": form})


@login_required
def workspace_members(request, workspace_slug: str):
    membership = access_membership_by_slug(request.user, workspace_slug)
    workspace = membership.workspace
    can_manage = membership.has_role(Role.ADMIN)
    form = InvitationForm(request.POST or None)
    if request.method == "POST":
        if not can_manage:
            raise PermissionDenied("Only owners and admins can invite people.")
        if form.is_valid():
            try:
                invitation = services.invitation_create(
                    workspace=workspace, invited_by=request.user, **form.cleaned_data
                )
            except ValidationError as error:
                form.add_error("email", error)
            else:
                messages.success(request, f"Invitation sent to {invitation.email}.")
                return redirect("workspace_members", workspace_slug=workspace.slug)
    context = {
        "workspace": workspace,
        "membership": membership,
        "members": workspace.memberships.select_related("user").order_by("created_at"),
        "invitations": workspace.invitations.filter(
            accepted_at=None, revoked_at=None
        ).select_related("email_message"),
        "can_manage": can_manage,
        "form": form,
    }
    return render(request, "accounts/members.html", context)


@login_required
@require_POST
def invitation_revoke(request, workspace_slug: str, invitation_id: int):
    workspace = access_membership_by_slug(
        request.user, workspace_slug, min_role=Role.ADMIN
    ).workspace
    invitation = get_object_or_404(workspace.invitations, pk=invitation_id)
    services.invitation_revoke(invitation=invitation, revoked_by=request.user)
    messages.info(request, f"The invitation to {invitation.email} was withdrawn.")
    return redirect("workspace_members", workspace_slug=workspace.slug)


@login_required
@require_POST
def invitation_resend(request, workspace_slug: str, invitation_id: int):
    workspace = access_membership_by_slug(
        request.user, workspace_slug, min_role=Role.ADMIN
    ).workspace
    invitation = get_object_or_404(workspace.invitations, pk=invitation_id)
    try:
        services.invitation_resend(invitation=invitation, sent_by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"The invitation to {invitation.email} is on its way again.")
    return redirect("workspace_members", workspace_slug=workspace.slug)


def invitation_accept(request, token: str):
    try:
        invitation = services.invitation_from_token(token)
    except ValidationError as error:
        return render(
            request, "accounts/invitation.html", {"error": " ".join(error.messages)}, status=400
        )
    context = {"invitation": invitation}
    if request.method == "POST" and request.user.is_authenticated:
        try:
            membership = services.invitation_accept(invitation=invitation, user=request.user)
        except ValidationError as error:
            context["error"] = " ".join(error.messages)
            return render(request, "accounts/invitation.html", context, status=400)
        messages.success(request, f"Welcome to {membership.workspace.name}.")
        return redirect("dashboard")
    return render(request, "accounts/invitation.html", context)
