from allauth.account.forms import SignupForm as AllauthSignupForm
from django import forms

from .models import Role


class WorkspaceForm(forms.Form):
    name = forms.CharField(max_length=100, label="Team name")


class InvitationForm(forms.Form):
    email = forms.EmailField(label="Email address")
    role = forms.ChoiceField(choices=[(Role.MEMBER, "Member"), (Role.ADMIN, "Admin")])


class SignupForm(AllauthSignupForm):
    """allauth's sign-up, with the address fixed when the person came from an invitation:
    the invitation can only be accepted by that address."""

    def __init__(self, *args, locked_email: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.locked_email = locked_email
        if locked_email:
            field = self.fields["email"]
            field.initial = locked_email
            field.widget.attrs["readonly"] = True
            field.help_text = "The address your invitation was sent to."

    def clean_email(self):
        if self.locked_email:
            # A readonly input can still be edited by hand; the invitation decides.
            self.cleaned_data["email"] = self.locked_email
        return super().clean_email()


class AccountDeleteForm(forms.Form):
    password = forms.CharField(
        label="Your password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
