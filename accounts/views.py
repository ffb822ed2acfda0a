from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from . import services, staff
from .access import access_membership_by_slug
from .forms import InvitationForm, StaffEnrollmentForm, TokenForm, WorkspaceForm
from .models import Membership, PersonalAccessToken, Role


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


def staff_enroll(request, token: str):
    """Where a staff enrollment link lands: choose a password, scan the QR code, confirm."""
    try:
        staff_user = staff.staff_enrollment_user(token=token)
    except ValidationError as error:
        return render(
            request, "accounts/staff_enroll.html", {"error": " ".join(error.messages)}, status=400
        )
    # The secret stays in this browser's session until the code proves it was scanned.
    session_key = f"staff_enrollment_secret:{staff_user.pk}"
    secret = request.session.get(session_key) or staff.totp_secret_new()
    request.session[session_key] = secret
    needs_password = not staff_user.has_usable_password()
    form = StaffEnrollmentForm(request.POST or None, needs_password=needs_password)
    if request.method == "POST" and form.is_valid():
        try:
            staff.staff_totp_enroll(
                token=token,
                secret=secret,
                code=form.cleaned_data["code"],
                password=form.cleaned_data.get("password1"),
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            del request.session[session_key]
            messages.success(
                request, "Two-factor authentication is set up. Sign in with your code."
            )
            return redirect(f"{reverse('account_login')}?next={reverse('admin:index')}")
    context = {
        "staff_user": staff_user,
        "form": form,
        "secret": secret,
        "qr_data_uri": staff.totp_qr_data_uri(user=staff_user, secret=secret),
    }
    return render(request, "accounts/staff_enroll.html", context)


@login_required
def account_tokens(request):
    form = TokenForm(request.POST or None)
    context = {"form": form}
    if request.method == "POST" and form.is_valid():
        try:
            token, secret = services.token_create(user=request.user, name=form.cleaned_data["name"])
        except ValidationError as error:
            form.add_error("name", error)
        else:
            # Rendered, not redirected: the secret must not outlive this one response.
            context.update(new_token=token, new_token_secret=secret, form=TokenForm())
    context["tokens"] = PersonalAccessToken.objects.filter(user=request.user)
    return render(request, "accounts/tokens.html", context)


@login_required
@require_POST
def account_token_revoke(request, token_id: int):
    try:
        services.token_revoke(user=request.user, token_id=token_id)
    except PersonalAccessToken.DoesNotExist:
        raise Http404 from None
    messages.info(request, "The token was revoked.")
    return redirect("account_tokens")
