from django.utils.functional import SimpleLazyObject

from .prices import plan_offers


def offers(request):
    """`PLAN_OFFERS.premium.price.display` and `.sellable` on any page that asks; read
    only when a template uses it, so other pages never touch the price cache."""
    return {"PLAN_OFFERS": SimpleLazyObject(plan_offers)}
