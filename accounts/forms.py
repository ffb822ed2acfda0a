import csv
import io
import re

from allauth.account.forms import SignupForm as AllauthSignupForm
from django import forms

from .models import Role


class WorkspaceForm(forms.Form):
    name = forms.CharField(max_length=100, label="Team name")


class InvitationForm(forms.Form):
    email = forms.EmailField(label="Email address")
    role = forms.ChoiceField(choices=[(Role.MEMBER, "Member"), (Role.ADMIN, "Admin")])


class StaffEnrollmentForm(forms.Form):
    password1 = forms.CharField(
        label="Password", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label="Password again", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    code = forms.CharField(
        label="Code from your authenticator app",
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def __init__(self, *args, needs_password: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not needs_password:
            del self.fields["password1"]
            del self.fields["password2"]

    def clean(self):
        cleaned = super().clean()
        if "password1" in self.fields and cleaned.get("password1") != cleaned.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        return cleaned


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, label="What is it for?")


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


MAX_CSV_BYTES = 1024 * 1024
_ANGLE = re.compile(r"<([^<>]+)>")


def _address(cell: str) -> str:
    """The address in "Ada Lovelace <ada@example.com>" or a bare one."""
    cell = cell.strip()
    found = _ANGLE.search(cell)
    return found.group(1).strip() if found else cell


class BulkInviteForm(forms.Form):
    emails = forms.CharField(
        label="Email addresses",
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 5, "placeholder": "ada@example.com\ngrace@example.com"}
        ),
        help_text="One a line, or separated by commas. Names are fine: Ada &lt;ada@example.com&gt;.",
    )
    csv_file = forms.FileField(
        label="Or a CSV file",
        required=False,
        help_text="The first column with an address in it is read; a header row is skipped.",
    )
    role = forms.ChoiceField(choices=[(Role.MEMBER, "Member"), (Role.ADMIN, "Admin")])

    def _from_csv(self, upload) -> list[str]:
        if upload.size > MAX_CSV_BYTES:
            raise forms.ValidationError("The CSV is over 1 MB.", code="csv_too_large")
        try:
            text = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise forms.ValidationError(
                "The CSV is not UTF-8 text. Export it again as CSV UTF-8.", code="csv_encoding"
            ) from None
        rows = []
        for number, row in enumerate(csv.reader(io.StringIO(text))):
            cells = [cell.strip() for cell in row if cell.strip()]
            if not cells:
                continue
            with_at = [cell for cell in cells if "@" in cell]
            if number == 0 and not with_at:
                continue  # the header
            rows.append(_address(with_at[0] if with_at else cells[0]))
        return rows

    def clean(self):
        cleaned = super().clean()
        pasted = [
            _address(part)
            for part in re.split(r"[\n,;]+", cleaned.get("emails") or "")
            if part.strip()
        ]
        upload = cleaned.get("csv_file")
        from_file = self._from_csv(upload) if upload else []
        if not pasted and not from_file:
            raise forms.ValidationError(
                "Paste some addresses or choose a CSV file.", code="bulk_empty"
            )
        cleaned["addresses"] = pasted + from_file
        return cleaned


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
