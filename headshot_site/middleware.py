from allauth.mfa.utils import is_mfa_enabled
from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode


class StaffAdminMiddleware:
    """The admin is for staff who sign in with a second factor.

    Django's own admin login would skip allauth's two-factor step, so it is replaced
    by the portal login (which asks for the TOTP code), and a staff member without
    an authenticator is sent to set one up before any admin page opens.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        admin_root = reverse("admin:index")
        if not request.path.startswith(admin_root):
            return self.get_response(request)
        user = request.user
        if request.path == reverse("admin:login") or not user.is_authenticated:
            target = request.GET.get("next") or admin_root
            return redirect(f"{reverse('account_login')}?{urlencode({'next': target})}")
        if not (user.is_active and user.is_staff):
            return redirect("dashboard")
        if not is_mfa_enabled(user):
            messages.warning(
                request, "Staff accounts need two-factor authentication: set it up first."
            )
            return redirect(f"{reverse('mfa_activate_totp')}?{urlencode({'next': request.path})}")
        return self.get_response(request)
