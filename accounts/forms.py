from django import forms

from .models import Role


class WorkspaceForm(forms.Form):
    name = forms.CharField(max_length=100, label="Team name")


class InvitationForm(forms.Form):
    email = forms.EmailField(label="Email address")
    role = forms.ChoiceField(choices=[(Role.MEMBER, "Member"), (Role.ADMIN, "Admin")])
