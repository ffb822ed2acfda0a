"""Team members picking their headshot for the company's website."""

from django.core.exceptions import PermissionDenied
from django.utils import timezone

from accounts.models import User

from ..models import Headshot


def headshot_choose(*, headshot: Headshot, user: User, chosen: bool) -> Headshot:
    """Mark (or unmark) one of the user's own headshots as chosen; several may be."""
    if headshot.order.placed_by_id != user.pk:
        raise PermissionDenied("Only the person who ordered a headshot can choose it.")
    headshot.chosen_at = timezone.now() if chosen else None
    headshot.save(update_fields=["chosen_at"])
    return headshot
