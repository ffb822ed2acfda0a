from allauth.account.views import SignupView as AllauthSignupView
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from . import selectors, services, staff
from .access import access_membership_by_slug
from .forms import (
    RoleForm,
    StaffEnrollmentForm,
    TokenForm,
)
from .models import Invitation, Membership, PersonalAccessToken, Role

# The invitation a visitor followed, kept through sign-up and email verification so
# that the first login lands them in the team (see `home`).
SESSION_INVITATION = "invitation_token"


def landing(request):
    return render(request, "landing.html")


def _invitation_in_session(request) -> Invitation | None:
    token = request.session.get(SESSION_INVITATION)
    if not token:
        return None
    try:
        invitation = services.invitation_from_token(token)
    except ValidationError:
        request.session.pop(SESSION_INVITATION, None)
        return None
    return invitation if invitation.is_pending else None


class SignupView(AllauthSignupView):
    """Sign-up; from an invitation link, the invited address is filled in and locked."""

    def dispatch(self, request, *args, **kwargs):
        token = request.GET.get("invitation")
        if token:
            request.session[SESSION_INVITATION] = token
        self.invitation = _invitation_in_session(request)
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self) -> dict:
        kwargs = super().get_form_kwargs()
        if self.invitation is not None:
            kwargs["locked_email"] = self.invitation.email
        return kwargs

    def get_context_data(self, **kwargs) -> dict:
        return {**super().get_context_data(**kwargs), "invitation": self.invitation}


signup = SignupView.as_view()


@login_required
@require_GET
def home(request):
    """Where logging in lands: the team whose invitation brought the person here, the
    studio when they have one workspace, or the list of workspaces."""
    invitation = _invitation_in_session(request)
    request.session.pop(SESSION_INVITATION, None)
    if invitation is not None:
        try:
            membership = services.invitation_accept(invitation=invitation, user=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(
                request,
                f"Welcome to {membership.workspace.name}! Upload a selfie to get your headshots.",
            )
            return redirect("studio", workspace_slug=membership.workspace.slug)
    memberships = list(Membership.objects.filter(user=request.user).select_related("workspace")[:2])
    if len(memberships) == 1 and not selectors.invitations_pending_for(user=request.user).exists():
        return redirect("studio", workspace_slug=memberships[0].workspace.slug)
    return redirect("dashboard")


@login_required
@require_POST
def membership_role(request, workspace_slug: str, member_id: int):
    workspace = access_membership_by_slug(
        request.user, workspace_slug, min_role=Role.OWNER
    ).workspace
    member = get_object_or_404(workspace.memberships.select_related("user"), pk=member_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose owner, admin or member.")
    else:
        try:
            services.membership_role_set(
                membership=member, role=form.cleaned_data["role"], changed_by=request.user
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(
                request, f"{member.user.email} is now {member.get_role_display().lower()}."
            )
    return redirect("workspace_members", workspace_slug=workspace.slug)


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
            request,
            "accounts/invitation.html",
            {"error": " ".join(error.messages), "error_code": error.code},
            status=400,
        )
    if invitation.accepted_at is not None:
        workspace = invitation.workspace
        if (
            request.user.is_authenticated
            and Membership.objects.filter(workspace=workspace, user=request.user).exists()
        ):
            messages.info(request, f"You are already a member of {workspace.name}.")
            return redirect("studio", workspace_slug=workspace.slug)
        return render(
            request,
            "accounts/invitation.html",
            {
                "error": "This invitation was already used. Log in to reach the team, or ask "
                "its admin for a new invitation.",
                "error_code": "invitation_used",
            },
            status=400,
        )
    context = {"invitation": invitation, "token": token}
    if request.method == "POST" and request.user.is_authenticated:
        try:
            membership = services.invitation_accept(invitation=invitation, user=request.user)
        except ValidationError as error:
            context["error"] = " ".join(error.messages)
            return render(request, "accounts/invitation.html", context, status=400)
        messages.success(
            request,
            f"Welcome to {membership.workspace.name}! Upload a selfie to get your headshots.",
        )
        return redirect("studio", workspace_slug=membership.workspace.slug)
    if not request.user.is_authenticated:
        # Kept so that signing up, verifying and logging in ends in this team.
        request.session[SESSION_INVITATION] = token
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


def privacy(request):
    return render(request, "legal/privacy.html")


def terms(request):
    return render(request, "legal/terms.html")
