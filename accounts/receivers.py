"""allauth's account events, turned into calls to the accounts services."""

from allauth.account import signals
from allauth.account.models import EmailAddress

from . import services


def _credentials_changed(sender, request, user, **kwargs) -> None:
    services.user_credentials_reset(user=user, request=request)


def _email_confirmed(sender, request, email_address: EmailAddress, **kwargs) -> None:
    # Before its first verified address, an account may have been made by someone
    # who only typed the address in (pre-hijacking): the owner's proof ends it all.
    user = email_address.user
    earlier = EmailAddress.objects.filter(user=user, verified=True).exclude(pk=email_address.pk)
    if not earlier.exists():
        services.user_credentials_reset(user=user, request=request)


def connect() -> None:
    for signal in (signals.password_changed, signals.password_set, signals.password_reset):
        signal.connect(_credentials_changed)
    signals.email_confirmed.connect(_email_confirmed)
