"""The one place that talks to Stripe: the client, the pinned API version, webhook checks."""

import logging

import stripe
from django.conf import settings

logger = logging.getLogger(__name__)

# Pinned, so the shapes we read cannot move under us: in this version a subscription's
# period sits on its items, and an invoice names its subscription under
# parent.subscription_details. The webhook endpoint in Stripe must use it too.
STRIPE_API_VERSION = "2026-10-28.endive"
# Checkout and portal calls block a web request; Stripe's own default waits 80 s.
STRIPE_TIMEOUT_S = 20
STRIPE_MAX_NETWORK_RETRIES = 2


# What customers read when this server cannot sell: the operator's detail (which
# setting is missing) goes to the logs and the admin, never to them.
NOT_CONFIGURED_MESSAGE = "Upgrades are not available yet."


class BillingUnavailable(Exception):
    """Stripe is not configured here, or could not be reached: not the caller's fault."""

    def __init__(self, message: str, *, code: str = "billing_unavailable"):
        super().__init__(message)
        self.code = code
        self.message = message


def billing_configuration_problems() -> list[str]:
    """For operators: each setting missing before customers can pay, in words."""
    from .plans import PAID_PLANS

    problems = []
    if not settings.STRIPE_SECRET_KEY:
        problems.append("STRIPE_SECRET_KEY is not set: nobody can upgrade.")
    if not settings.STRIPE_WEBHOOK_SECRET:
        problems.append("STRIPE_WEBHOOK_SECRET is not set: payments would never switch a plan on.")
    for plan in PAID_PLANS:
        if not plan.price_id():
            problems.append(
                f"{plan.price_setting} is not set: the {plan.name} plan cannot be sold."
            )
    return problems


def billing_not_configured(detail: str) -> BillingUnavailable:
    logger.error("Billing is not configured: %s", detail)
    return BillingUnavailable(NOT_CONFIGURED_MESSAGE, code="billing_not_configured")


class WebhookRejected(Exception):
    """The webhook request is not a genuine, well-formed Stripe event."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message)
        self.code = code
        self.message = message


def stripe_client() -> stripe.StripeClient:
    if not settings.STRIPE_SECRET_KEY:
        raise billing_not_configured("STRIPE_SECRET_KEY is not set.")
    base_addresses = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        stripe_version=STRIPE_API_VERSION,
        base_addresses=base_addresses,
        max_network_retries=STRIPE_MAX_NETWORK_RETRIES,
        http_client=stripe.RequestsClient(timeout=STRIPE_TIMEOUT_S),
    )


def price_retrieve(price_id: str) -> dict:
    """The Stripe Price behind a plan: unit_amount (minor units), currency, recurring."""
    try:
        return stripe_client().v1.prices.retrieve(price_id).to_dict(for_json=True)
    except stripe.StripeError as error:
        raise unavailable(error) from error


def subscription_set_cancel_at_period_end(stripe_subscription_id: str, *, cancel: bool) -> dict:
    """Stripe's answer is the updated subscription, in the pinned version's shape."""
    try:
        return (
            stripe_client()
            .v1.subscriptions.update(
                stripe_subscription_id, params={"cancel_at_period_end": cancel}
            )
            .to_dict(for_json=True)
        )
    except stripe.StripeError as error:
        raise unavailable(error) from error


def subscription_cancel_now(stripe_subscription_id: str) -> dict:
    try:
        return (
            stripe_client().v1.subscriptions.cancel(stripe_subscription_id).to_dict(for_json=True)
        )
    except stripe.StripeError as error:
        raise unavailable(error) from error


def unavailable(error: stripe.StripeError) -> BillingUnavailable:
    message = getattr(error, "user_message", None) or str(error) or type(error).__name__
    return BillingUnavailable(f"Stripe could not complete the request: {message}")


def webhook_event_verify(*, payload: bytes, signature: str | None) -> dict:
    """The event in a webhook request, after checking Stripe's signature on the raw body."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        # Stripe reads this answer, not a customer: the detail helps whoever looks.
        raise BillingUnavailable(
            "Stripe webhooks are not configured on this server: STRIPE_WEBHOOK_SECRET is not set.",
            code="billing_not_configured",
        )
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret)
    except stripe.SignatureVerificationError as error:
        raise WebhookRejected(str(error), code="invalid_signature") from None
    except (UnicodeDecodeError, ValueError, TypeError, AttributeError):
        # Only reachable with a valid signature over a body that is not an event.
        raise WebhookRejected("The body is not a Stripe event.", code="invalid_payload") from None
    data = event.to_dict(for_json=True)
    obj = (data.get("data") or {}).get("object")
    if not (
        isinstance(data.get("id"), str)
        and isinstance(data.get("type"), str)
        and isinstance(data.get("created"), int)
        and isinstance(obj, dict)
    ):
        raise WebhookRejected("The body is not a Stripe event.", code="invalid_payload")
    return data
