from functools import cache

from allauth.account.authentication import get_authentication_records
from django.conf import settings
from django.contrib.auth import logout
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode

from accounts.staff import staff_has_enrolled_totp

# allauth's pages that add, remove or replace a second factor. A staff member's is set
# only through an enrollment link (accounts/staff.py), never from a signed-in session,
# where a password alone would be enough to enroll an attacker's authenticator.
_SELF_SERVICE_MFA_URLS = ("mfa_activate_totp", "mfa_deactivate_totp", "mfa_generate_recovery_codes")


@cache
def _self_service_mfa_paths() -> frozenset[str]:
    return frozenset(reverse(name) for name in _SELF_SERVICE_MFA_URLS)


class StaffAdminMiddleware:
    """The admin is for staff who signed in with the second factor their enrollment
    link set up.

    Django's own admin login would skip allauth's two-factor step, so it is replaced
    by the portal login (which asks for the TOTP code). A staff member without an
    enrolled authenticator gets no admin page and no way to enroll one themselves.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if request.path in _self_service_mfa_paths() and user.is_authenticated and user.is_staff:
            return self._refuse(
                request,
                "A staff account's second factor is set only through an enrollment link. "
                "Ask an administrator for one.",
            )
        admin_root = reverse("admin:index")
        if not request.path.startswith(admin_root):
            return self.get_response(request)
        if request.path == reverse("admin:login") or not user.is_authenticated:
            target = request.GET.get("next") or admin_root
            return redirect(f"{reverse('account_login')}?{urlencode({'next': target})}")
        if not (user.is_active and user.is_staff):
            return redirect("dashboard")
        if not staff_has_enrolled_totp(user):
            return self._refuse(
                request,
                "Staff accounts open the admin only with two-factor authentication, set up "
                "through an enrollment link. Ask an administrator for one "
                "(manage.py issue_staff_enrollment).",
            )
        if not any(
            record.get("method") == "mfa" for record in get_authentication_records(request, user)
        ):
            # Signed in before the second factor existed, or without it: sign in again.
            logout(request)
            return redirect(f"{reverse('account_login')}?{urlencode({'next': request.path})}")
        return self.get_response(request)

    @staticmethod
    def _refuse(request, message: str):
        return render(request, "403.html", {"message": message}, status=403)


class PermissionsPolicyMiddleware:
    """Every response refuses the browser features no page of ours uses."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response
