from dataclasses import dataclass

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings

from .emails import email_queue
from .services import workspace_create_personal


@dataclass(frozen=True)
class ProductSite:
    """What allauth's email templates read as `current_site`. Without the Sites
    framework allauth falls back to the request's host for the name ("Hello from
    127.0.0.1:8621!"); the emails should name the product instead."""

    name: str
    domain: str


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            # Portal sign-ups get the same personal workspace as API sign-ups.
            workspace_create_personal(user=user)
        return user

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        # The links in allauth's emails are built from the request, so they point
        # where the person signed up; only the name needs setting.
        request = self.request
        domain = request.get_host() if request is not None else settings.SITE_URL
        site = ProductSite(name=settings.SITE_NAME, domain=domain)
        # Verification and password-reset emails go through the task queue, with
        # retries, like every other email.
        message = self.render_mail(template_prefix, email, {"current_site": site, **context})
        email_queue(to=email, subject=message.subject, body=message.body)
