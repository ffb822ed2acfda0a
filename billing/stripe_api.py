"""The one place that talks to Stripe: the client, the pinned API version, webhook checks."""

import stripe
from django.conf import settings

# Pinned, so the shapes we read cannot move under us: in this version a subscription's
# period sits on its items, and an invoice names its subscription under
# parent.subscription_details. The webhook endpoint in Stripe must use it too.
STRIPE_API_VERSION = "2026-10-28.endive"
# Checkout and portal calls block a web request; Stripe's own default waits 80 s.
STRIPE_TIMEOUT_S = 20
STRIPE_MAX_NETWORK_RETRIES = 2


class BillingUnavailable(Exception):
    """Stripe is not configured here, or could not be reached: not the caller's fault."""

    def __init__(self, message: str, *, code: str = "billing_unavailable"):
        super().__init__(message)
        self.code = code
        self.message = message


class WebhookRejected(Exception):
    """The webhook request is not a genuine, well-formed Stripe event."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message)
        self.code = code
        self.message = message


def stripe_client() -> stripe.StripeClient:
    if not settings.STRIPE_SECRET_KEY:
        raise BillingUnavailable(
            "Billing is not configured on this server: STRIPE_SECRET_KEY is not set.",
            code="billing_not_configured",
        )
    base_addresses = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        stripe_version=STRIPE_API_VERSION,
        base_addresses=base_addresses,
        max_network_retries=STRIPE_MAX_NETWORK_RETRIES,
        http_client=stripe.RequestsClient(timeout=STRIPE_TIMEOUT_S),
    )


def unavailable(error: stripe.StripeError) -> BillingUnavailable:
    message = getattr(error, "user_message", None) or str(error) or type(error).__name__
    return BillingUnavailable(f"Stripe could not complete the request: {message}")


def webhook_event_verify(*, payload: bytes, signature: str | None) -> dict:
    """The event in a webhook request, after checking Stripe's signature on the raw body."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
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
