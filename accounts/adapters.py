from allauth.account.adapter import DefaultAccountAdapter

from .services import workspace_create_personal


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            # Portal sign-ups get the same personal workspace as API sign-ups.
            workspace_create_personal(user=user)
        return user
