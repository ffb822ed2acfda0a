"""Reads about people, workspaces and invitations that pages and the API share."""

from allauth.account.models import EmailAddress
from django.db.models import QuerySet
from django.utils import timezone

from .models import Invitation, User


def invitations_pending_for(*, user: User) -> QuerySet[Invitation]:
    """Live invitations to any of the user's verified addresses, to teams they are not in."""
    addresses = EmailAddress.objects.filter(user=user, verified=True).values_list(
        "email", flat=True
    )
    lowered = [address.lower() for address in addresses]
    return (
        Invitation.objects.filter(accepted_at=None, revoked_at=None, expires_at__gt=timezone.now())
        .filter(email__in=lowered)
        .exclude(workspace__memberships__user=user)
        .select_related("workspace", "invited_by")
    )
