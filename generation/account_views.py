"""A person's own pages that span the apps: their workspaces with each one's plan, and
their account's data (download everything, or delete the account with its data)."""

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.forms import AccountDeleteForm, WorkspaceForm
from accounts.models import Membership
from billing import services as billing_services
from billing.stripe_api import BillingUnavailable

from .services import user_delete, user_deletion_blockers, user_export


@login_required
def dashboard(request):
    form = WorkspaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            workspace = billing_services.team_workspace_create(
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
    pending = [
        {"invitation": invitation, "url": account_services.invitation_url(invitation)}
        for invitation in account_selectors.invitations_pending_for(user=request.user)
    ]
    return render(
        request,
        "accounts/dashboard.html",
        {"memberships": memberships, "form": form, "pending_invitations": pending},
    )


@login_required
def account_data(request):
    """Account and data: download everything, or delete the account with its data."""
    form = AccountDeleteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user_delete(user=request.user, password=form.cleaned_data["password"])
        except ValidationError as error:
            form.add_error("password" if error.code == "wrong_password" else None, error)
        except BillingUnavailable:
            form.add_error(
                None,
                "We could not cancel your subscription just now, so nothing was deleted. "
                "Try again in a few minutes.",
            )
        else:
            logout(request)
            messages.success(
                request, "Your account and everything in it are deleted. Thank you for trying us."
            )
            return redirect("landing")
    context = {"form": form, "blockers": user_deletion_blockers(user=request.user)}
    return render(
        request, "accounts/account_data.html", context, status=400 if form.errors else 200
    )


@login_required
@require_GET
def account_export(request):
    return account_export_response(request.user)


def account_export_response(user) -> FileResponse:
    """The "Download my data" zip, for the portal and the API alike."""
    response = FileResponse(
        user_export(user=user),
        content_type="application/zip",
        as_attachment=True,
        filename=f"headshot-studio-data-{timezone.now():%Y-%m-%d}.zip",
    )
    response["Cache-Control"] = "private, no-store"
    return response
