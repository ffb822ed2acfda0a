from allauth.account.adapter import DefaultAccountAdapter

from .emails import email_queue
from .services import workspace_create_personal


class AccountAdapter(DefaultAccountAdapter):
    def send_mail(self, template_prefix, email, context):
        # Verification and password-reset emails go through the task queue, with
        # retries, like every other email.
        message = self.render_mail(template_prefix, email, context)
        email_queue(to=email, subject=message.subject, body=message.body)

    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            # Portal sign-ups get the same personal workspace as API sign-ups.
            workspace_create_personal(user=user)
        return user
