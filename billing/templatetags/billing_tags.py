from django import template
from django.utils import timezone

from accounts.models import Membership, Role
from billing.plans import subscription_current
from billing.prices import PlanOffer
from billing.prices import upgrade_offer as offer_for

register = template.Library()


@register.inclusion_tag("billing/_banner.html", takes_context=True)
def billing_banner(context, workspace):
    """The past-due banner for a workspace page: `{% billing_banner workspace %}`."""

    subscription = subscription_current(workspace)
    if subscription is None or not subscription.in_grace(timezone.now()):
        return {"show": False}
    user = context.get("user")
    membership = Membership.objects.filter(workspace=workspace, user_id=getattr(user, "pk", None))
    return {
        "show": True,
        "workspace": workspace,
        "grace_ends_at": subscription.grace_ends_at,
        "plan_name": subscription.get_plan_display(),
        "can_manage": any(m.has_role(Role.ADMIN) for m in membership),
        "csrf_token": context.get("csrf_token"),
    }


@register.simple_tag
def upgrade_offer(workspace) -> PlanOffer:
    """`{% upgrade_offer workspace as offer %}`: the paid plan and price an upgrade
    prompt in this workspace offers."""
    return offer_for(workspace)
