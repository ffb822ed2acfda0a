"""What each paid plan costs, for every page and the API that shows a price.

The Stripe Price behind `STRIPE_PRICE_<PLAN>` is the truth, read through
`billing.stripe_api` and cached (`PRICE_CACHE_SECONDS`) so pages do not wait on
Stripe. Without Stripe (development, demos) a display setting stands in:
`PRICE_DISPLAY_<PLAN>="19.00 USD month"`. A plan with neither has no price, and
customers are told upgrades are not available yet.
"""

import logging
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.cache import cache

from .plans import PLANS, Plan
from .stripe_api import BillingUnavailable, price_retrieve

logger = logging.getLogger(__name__)

# Stripe's unit_amount is in the currency's smallest unit; these have no subunit.
_ZERO_DECIMAL = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())
_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£"}
_INTERVALS = frozenset({"day", "week", "month", "year"})
# A failed Stripe read is retried after this long rather than on every page view.
_FAILURE_CACHE_SECONDS = 60


@dataclass(frozen=True)
class Price:
    amount: Decimal
    currency: str
    interval: str
    per_seat: bool
    source: str  # "stripe" or "setting"

    @property
    def amount_exact(self) -> Decimal:
        places = Decimal(1) if self.currency in _ZERO_DECIMAL else Decimal("0.01")
        return self.amount.quantize(places)

    @property
    def amount_display(self) -> str:
        amount = self.amount_exact
        symbol = _SYMBOLS.get(self.currency)
        return f"{symbol}{amount}" if symbol else f"{amount} {self.currency.upper()}"

    @property
    def unit_display(self) -> str:
        seat = "per seat " if self.per_seat else ""
        return f"{seat}a {self.interval}"

    @property
    def display(self) -> str:
        """ "$19.00 a month", "$12.00 per seat a month"."""
        return f"{self.amount_display} {self.unit_display}"

    def as_dict(self) -> dict:
        return {
            "amount": str(self.amount_exact),
            "currency": self.currency,
            "interval": self.interval,
            "per_seat": self.per_seat,
            "display": self.display,
        }


def _from_stripe(data: dict, *, per_seat: bool) -> Price | None:
    unit_amount = data.get("unit_amount")
    currency = (data.get("currency") or "").lower()
    interval = (data.get("recurring") or {}).get("interval")
    if unit_amount is None or not currency or interval not in _INTERVALS:
        return None
    divisor = 1 if currency in _ZERO_DECIMAL else 100
    return Price(
        amount=Decimal(unit_amount) / divisor,
        currency=currency,
        interval=interval,
        per_seat=per_seat,
        source="stripe",
    )


def price_from_display_setting(value: str, *, per_seat: bool) -> Price:
    """Parse "19.00 USD month"; ValueError naming the expected shape otherwise."""
    shape_error = ValueError(
        f'expected "AMOUNT CURRENCY INTERVAL", e.g. "19.00 USD month": {value!r}'
    )
    parts = (value or "").split()
    if len(parts) != 3:
        raise shape_error
    try:
        amount = Decimal(parts[0])
    except InvalidOperation:
        raise shape_error from None
    currency, interval = parts[1].lower(), parts[2].lower()
    if not amount.is_finite() or amount < 0:
        raise shape_error
    if len(currency) != 3 or not currency.isalpha() or interval not in _INTERVALS:
        raise shape_error
    return Price(
        amount=amount, currency=currency, interval=interval, per_seat=per_seat, source="setting"
    )


def _display_setting_name(plan: Plan) -> str:
    return f"PRICE_DISPLAY_{plan.code.upper()}"


def _stripe_price(plan: Plan) -> Price | None:
    price_id = plan.price_id()
    key = f"billing:stripe-price:{price_id}"
    cached = cache.get(key)
    if cached is not None:
        return _from_stripe(cached, per_seat=plan.per_seat) if cached else None
    try:
        data = price_retrieve(price_id)
    except BillingUnavailable as error:
        logger.error("Could not read the Stripe price %s of %s: %s", price_id, plan.code, error)
        cache.set(key, {}, _FAILURE_CACHE_SECONDS)
        return None
    price = _from_stripe(data, per_seat=plan.per_seat)
    if price is None:
        logger.error("The Stripe price %s of %s is not a recurring unit price", price_id, plan.code)
    cache.set(key, data if price else {}, settings.PRICE_CACHE_SECONDS)
    return price


def plan_price(plan: Plan) -> Price | None:
    """The plan's price, from Stripe when it is configured, else from the display setting."""
    if not plan.is_paid:
        return None
    if settings.STRIPE_SECRET_KEY and plan.price_id():
        price = _stripe_price(plan)
        if price is not None:
            return price
    value = getattr(settings, _display_setting_name(plan), "")
    if not value:
        return None
    try:
        return price_from_display_setting(value, per_seat=plan.per_seat)
    except ValueError as error:
        logger.error("%s is not a price: %s", _display_setting_name(plan), error)
        return None


@dataclass(frozen=True)
class PlanOffer:
    """A plan as customers are offered it: its price, and whether it can be bought here."""

    plan: Plan
    price: Price | None
    sellable: bool

    @property
    def code(self) -> str:
        return self.plan.code


def plan_sellable(plan: Plan) -> bool:
    return bool(
        plan.is_paid
        and settings.STRIPE_SECRET_KEY
        and settings.STRIPE_WEBHOOK_SECRET
        and plan.price_id()
    )


def plan_offers() -> dict[str, PlanOffer]:
    """Every plan, free first, by code."""
    return {
        plan.code: PlanOffer(plan=plan, price=plan_price(plan), sellable=plan_sellable(plan))
        for plan in PLANS.values()
    }


def upgrade_offer(workspace) -> PlanOffer:
    """The paid plan an upgrade prompt offers this workspace: Team (per seat) for a team
    workspace, Premium for anyone's own."""
    plan = PLANS["team" if workspace.kind == "team" else "premium"]
    return PlanOffer(plan=plan, price=plan_price(plan), sellable=plan_sellable(plan))


def upgrade_price_words(workspace) -> str | None:
    """ "Premium, $19.00 a month" for a message that suggests upgrading; the plan's
    name alone when it has no price; None while upgrades cannot be bought here (billing
    is not configured), when a message should not suggest one."""
    offer = upgrade_offer(workspace)
    if not offer.sellable:
        return None
    return f"{offer.plan.name}, {offer.price.display}" if offer.price else offer.plan.name
