"""A small Stripe-shaped HTTP server on loopback, for tests and offline demos.

stripe-python talks to it over real HTTP (point STRIPE_API_BASE at `server.url`), so
the tests exercise the library's own request encoding, headers and error handling.
It answers the calls billing makes: customers, Checkout Sessions, customer portal
sessions, prices, and subscription retrieval, update and cancellation; it records every request (method, path, form
body, headers) and replays a response for a repeated Idempotency-Key, as Stripe does.

Its checkout and portal URLs are pages of its own. With a webhook URL and secret,
paying on the checkout page creates the subscription and delivers signed events to
the app, so the whole flow runs offline:

    python -m tests.billing.stripe_server --port 12111 \\
        --webhook-url http://127.0.0.1:8000/billing/stripe/webhook/ --webhook-secret whsec_demo \\
        --price price_premium=1900:usd --price price_team=1200:usd
"""

import argparse
import html
import itertools
import json
import threading
import time
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import stripe

from billing.stripe_api import STRIPE_API_VERSION

DAY = 24 * 3600


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    form: dict[str, str]
    headers: dict[str, str]

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")


def subscription_object(
    *,
    id: str,
    customer: str,
    price: str,
    quantity: int = 1,
    status: str = "active",
    metadata: dict | None = None,
    period_start: int | None = None,
    period_end: int | None = None,
    cancel_at_period_end: bool = False,
    canceled_at: int | None = None,
    ended_at: int | None = None,
) -> dict:
    """A subscription in the pinned API version's shape: the period lives on the items."""
    period_start = period_start if period_start is not None else int(time.time())
    period_end = period_end if period_end is not None else period_start + 30 * DAY
    return {
        "id": id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "metadata": metadata or {},
        "cancel_at_period_end": cancel_at_period_end,
        "canceled_at": canceled_at,
        "ended_at": ended_at,
        "created": period_start,
        "start_date": period_start,
        "livemode": False,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_{id}",
                    "object": "subscription_item",
                    "price": {"id": price, "object": "price", "recurring": {"interval": "month"}},
                    "quantity": quantity,
                    "current_period_start": period_start,
                    "current_period_end": period_end,
                    "subscription": id,
                }
            ],
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={id}",
        },
    }


def invoice_object(
    *, id: str, customer: str, subscription: str, paid: bool, metadata: dict | None = None
) -> dict:
    """An invoice in the pinned API version's shape: its subscription sits under `parent`."""
    return {
        "id": id,
        "object": "invoice",
        "customer": customer,
        "status": "paid" if paid else "open",
        "billing_reason": "subscription_cycle",
        "livemode": False,
        "parent": {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"subscription": subscription, "metadata": metadata or {}},
        },
    }


_event_ids = itertools.count(1)


def event(type: str, obj: dict, *, created: int | None = None, id: str | None = None) -> dict:
    return {
        "id": id or f"evt_test_{next(_event_ids):06d}_{int(time.time() * 1000)}",
        "object": "event",
        "api_version": STRIPE_API_VERSION,
        "created": created if created is not None else int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type,
        "data": {"object": obj},
    }


def signature_header(payload: str, secret: str, *, timestamp: int | None = None) -> str:
    return stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)


def _error(status: int, message: str, *, type: str = "invalid_request_error", code=None):
    return status, {"error": {"type": type, "message": message, "code": code}}


class FakeStripe:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
    ):
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self.reset()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeStripe":
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.requests: list[RecordedRequest] = []
            self.customers: dict[str, dict] = {}
            self.checkout_sessions: dict[str, dict] = {}
            self.portal_sessions: dict[str, dict] = {}
            self.subscriptions: dict[str, dict] = {}
            self.prices: dict[str, dict] = {}
            # None accepts any price; a set makes unknown prices fail as in Stripe.
            self.known_prices: set[str] | None = None
            # Seconds each API answer waits, outside the lock: lets tests line up
            # callers that are in flight at the same time.
            self.api_delay_s = 0.0
            self._idempotent: dict[tuple[str, str], tuple[str, int, dict]] = {}
            self._ids = itertools.count(1)

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def add_subscription(self, **fields) -> dict:
        subscription = subscription_object(**fields)
        with self._lock:
            self.subscriptions[subscription["id"]] = subscription
        return subscription

    def add_price(
        self, id: str, *, unit_amount: int, currency: str = "usd", interval: str = "month"
    ) -> dict:
        """A recurring price, as `Price.retrieve` answers it."""
        price = {
            "id": id,
            "object": "price",
            "active": True,
            "currency": currency,
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount),
            "type": "recurring",
            "billing_scheme": "per_unit",
            "recurring": {"interval": interval, "interval_count": 1, "usage_type": "licensed"},
            "livemode": False,
        }
        with self._lock:
            self.prices[id] = price
        return price

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_test_{next(self._ids):04d}"

    # The API, answered under the lock.

    def handle_api(self, method: str, path: str, form: dict, headers: dict):
        if not headers.get("authorization", "").startswith("Bearer sk_"):
            return _error(401, "Invalid API Key provided.", type="authentication_error")
        key = headers.get("idempotency-key")
        body = json.dumps(form, sort_keys=True)
        if method == "POST" and key and (path, key) in self._idempotent:
            seen_body, status, response = self._idempotent[(path, key)]
            if seen_body != body:
                return _error(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters.",
                    type="idempotency_error",
                )
            return status, response
        status, response = self._route(method, path, form)
        if method == "POST" and key:
            self._idempotent[(path, key)] = (body, status, response)
        return status, response

    def _route(self, method: str, path: str, form: dict):
        parts = path.strip("/").split("/")
        if (method, path) == ("POST", "/v1/customers"):
            customer = {
                "id": self._new_id("cus"),
                "object": "customer",
                "name": form.get("name"),
                "email": form.get("email"),
                "metadata": _nested(form, "metadata"),
            }
            self.customers[customer["id"]] = customer
            return 200, customer
        if (method, path) == ("POST", "/v1/checkout/sessions"):
            return self._checkout_create(form)
        if (method, path) == ("POST", "/v1/billing_portal/sessions"):
            if form.get("customer") not in self.customers:
                return _error(
                    400, f"No such customer: '{form.get('customer')}'", code="resource_missing"
                )
            session_id = self._new_id("bps")
            session = {
                "id": session_id,
                "object": "billing_portal.session",
                "customer": form["customer"],
                "return_url": form.get("return_url"),
                "url": f"{self.url}/portal/{session_id}",
                "livemode": False,
            }
            self.portal_sessions[session_id] = session
            return 200, session
        if method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "prices"]:
            price = self.prices.get(parts[2])
            if price is None:
                return _error(404, f"No such price: '{parts[2]}'", code="resource_missing")
            return 200, price
        if len(parts) == 3 and parts[:2] == ["v1", "subscriptions"]:
            subscription = self.subscriptions.get(parts[2])
            if subscription is None:
                return _error(404, f"No such subscription: '{parts[2]}'", code="resource_missing")
            if method == "POST":
                return self._subscription_update(subscription, form)
            if method == "DELETE":
                if subscription["status"] != "canceled":
                    now = int(time.time())
                    subscription.update(status="canceled", canceled_at=now, ended_at=now)
                return 200, subscription
            return 200, subscription
        if method == "GET" and len(parts) == 4 and parts[:3] == ["v1", "checkout", "sessions"]:
            session = self.checkout_sessions.get(parts[3])
            if session is None:
                return _error(
                    404, f"No such checkout.session: '{parts[3]}'", code="resource_missing"
                )
            return 200, session
        return _error(404, f"Unrecognized request URL ({method}: {path}).")

    def _subscription_update(self, subscription: dict, form: dict):
        if subscription["status"] == "canceled":
            return _error(
                400,
                "A canceled subscription can only update its cancellation_details and metadata.",
            )
        if "cancel_at_period_end" in form:
            subscription["cancel_at_period_end"] = form["cancel_at_period_end"] == "true"
            subscription["canceled_at"] = (
                int(time.time()) if subscription["cancel_at_period_end"] else None
            )
        return 200, subscription

    def _checkout_create(self, form: dict):
        price = form.get("line_items[0][price]")
        if self.known_prices is not None and price not in self.known_prices:
            return _error(400, f"No such price: '{price}'", code="resource_missing")
        if form.get("customer") and form["customer"] not in self.customers:
            return _error(400, f"No such customer: '{form['customer']}'", code="resource_missing")
        session_id = self._new_id("cs")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": form.get("mode"),
            "status": "open",
            "payment_status": "unpaid",
            "customer": form.get("customer"),
            "client_reference_id": form.get("client_reference_id"),
            "metadata": _nested(form, "metadata"),
            "subscription": None,
            "success_url": form.get("success_url"),
            "cancel_url": form.get("cancel_url"),
            "url": f"{self.url}/checkout/{session_id}",
            "livemode": False,
            # Kept for the pay page; Stripe exposes these as line_items.
            "_price": price,
            "_quantity": int(form.get("line_items[0][quantity]") or 1),
            "_subscription_metadata": _nested(form, "subscription_data[metadata]"),
        }
        self.checkout_sessions[session_id] = session
        return 200, _public(session)

    # The hosted pages, for browsers.

    def checkout_pay(self, session_id: str) -> tuple[str, list[dict]]:
        """Complete a checkout: the subscription starts and its events are due."""
        session = self.checkout_sessions[session_id]
        subscription = subscription_object(
            id=self._new_id("sub"),
            customer=session["customer"],
            price=session["_price"],
            quantity=session["_quantity"],
            metadata=session["_subscription_metadata"],
        )
        self.subscriptions[subscription["id"]] = subscription
        session.update(status="complete", payment_status="paid", subscription=subscription["id"])
        invoice = invoice_object(
            id=self._new_id("in"),
            customer=session["customer"],
            subscription=subscription["id"],
            paid=True,
            metadata=subscription["metadata"],
        )
        events = [
            event("customer.subscription.created", subscription),
            event("invoice.paid", invoice),
            event("checkout.session.completed", _public(session)),
        ]
        return session["success_url"], events

    def portal_cancel(self, session_id: str) -> tuple[str, list[dict]]:
        """Cancel the customer's live subscriptions at once, as the portal can."""
        session = self.portal_sessions[session_id]
        now = int(time.time())
        events = []
        for subscription in self.subscriptions.values():
            if (
                subscription["customer"] == session["customer"]
                and subscription["status"] != "canceled"
            ):
                subscription.update(status="canceled", canceled_at=now, ended_at=now)
                events.append(event("customer.subscription.deleted", subscription))
        return session["return_url"], events

    def portal_cancel_at_period_end(self, session_id: str) -> tuple[str, list[dict]]:
        """Cancel the customer's live subscriptions when their paid period ends."""
        session = self.portal_sessions[session_id]
        events = []
        for subscription in self.subscriptions.values():
            if (
                subscription["customer"] == session["customer"]
                and subscription["status"] != "canceled"
            ):
                subscription.update(cancel_at_period_end=True, canceled_at=int(time.time()))
                events.append(event("customer.subscription.updated", subscription))
        return session["return_url"], events

    def deliver(self, events: list[dict]) -> None:
        if not (self.webhook_url and self.webhook_secret):
            return
        for item in events:
            payload = json.dumps(item)
            request = urllib.request.Request(
                self.webhook_url,
                data=payload.encode(),
                headers={
                    "Content-Type": "application/json",
                    "Stripe-Signature": signature_header(payload, self.webhook_secret),
                },
            )
            try:
                urllib.request.urlopen(request, timeout=10).close()
            except OSError as error:
                print(f"webhook {item['type']} not delivered: {error}", flush=True)


def _nested(form: dict, prefix: str) -> dict:
    """`metadata[plan]=team` style keys back into a dict."""
    start = f"{prefix}["
    return {
        key[len(start) : -1]: value
        for key, value in form.items()
        if key.startswith(start) and key.endswith("]") and "[" not in key[len(start) : -1]
    }


def _public(session: dict) -> dict:
    return {key: value for key, value in session.items() if not key.startswith("_")}


def _page(title: str, body: str) -> bytes:
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1><p><em>Test Stripe: no real payment.</em></p>{body}"
        "</body></html>"
    ).encode()


def _handler_for(stripe_server: FakeStripe):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):
            pass

        def _read_form(self) -> dict[str, str]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            query = urlsplit(self.path).query
            return dict(parse_qsl(raw or query, keep_blank_values=True))

        def _send(self, status: int, body: bytes, content_type: str, extra: dict | None = None):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Request-Id", f"req_test_{int(time.time() * 1000)}")
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _redirect(self, location: str):
            self._send(303, b"", "text/plain", {"Location": location})

        def _handle(self, method: str):
            path = urlsplit(self.path).path
            form = self._read_form()
            headers = {name.lower(): value for name, value in self.headers.items()}
            if path.startswith("/v1/") and stripe_server.api_delay_s:
                time.sleep(stripe_server.api_delay_s)
            with stripe_server._lock:
                stripe_server.requests.append(RecordedRequest(method, path, form, headers))
                if path.startswith("/v1/"):
                    status, response = stripe_server.handle_api(method, path, form, headers)
                    self._send(status, json.dumps(response).encode(), "application/json")
                    return
                result = self._page(method, path.strip("/").split("/"))
            if result is None:
                self._send(404, _page("Not found", ""), "text/html; charset=utf-8")
            elif isinstance(result, bytes):
                self._send(200, result, "text/html; charset=utf-8")
            else:
                # Outside the lock: the app may call back while handling the events.
                location, events = result
                stripe_server.deliver(events)
                self._redirect(location)

        def _page(self, method: str, parts: list[str]):
            """A page's HTML, or (redirect, events due) for its buttons, or None."""
            sessions = {
                "checkout": stripe_server.checkout_sessions,
                "portal": stripe_server.portal_sessions,
            }
            if len(parts) < 2 or parts[0] not in sessions or parts[1] not in sessions[parts[0]]:
                return None
            kind, session_id = parts[0], parts[1]
            session = sessions[kind][session_id]
            if method == "GET" and len(parts) == 2 and kind == "checkout":
                cancel = html.escape(session["cancel_url"] or "/")
                body = (
                    f"<p>Quantity {session['_quantity']} of {html.escape(session['_price'])}.</p>"
                    f"<form method='post' action='/checkout/{session_id}/pay'>"
                    "<button type='submit'>Pay</button></form>"
                    f"<p><a href='{cancel}'>Cancel</a></p>"
                )
                return _page("Checkout", body)
            if method == "GET" and len(parts) == 2 and kind == "portal":
                back = html.escape(session["return_url"] or "/")
                body = (
                    f"<form method='post' action='/portal/{session_id}/cancel'>"
                    "<button type='submit'>Cancel plan</button></form>"
                    f"<form method='post' action='/portal/{session_id}/cancel-at-period-end'>"
                    "<button type='submit'>Cancel at the end of the period</button></form>"
                    f"<p><a href='{back}'>Return</a></p>"
                )
                return _page("Billing portal", body)
            if method == "POST" and parts[2:] == ["pay"] and kind == "checkout":
                return stripe_server.checkout_pay(session_id)
            if method == "POST" and parts[2:] == ["cancel"] and kind == "portal":
                return stripe_server.portal_cancel(session_id)
            if method == "POST" and parts[2:] == ["cancel-at-period-end"] and kind == "portal":
                return stripe_server.portal_cancel_at_period_end(session_id)
            return None

        def do_GET(self):
            self._handle("GET")

        def do_POST(self):
            self._handle("POST")

        def do_DELETE(self):
            self._handle("DELETE")

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--webhook-url", help="the app's /billing/stripe/webhook/ URL")
    parser.add_argument("--webhook-secret", help="the app's STRIPE_WEBHOOK_SECRET")
    parser.add_argument(
        "--price",
        action="append",
        default=[],
        metavar="ID=CENTS:CURRENCY",
        help="a monthly price to answer Price.retrieve with, e.g. price_premium=1900:usd",
    )
    args = parser.parse_args()
    server = FakeStripe(
        args.host, args.port, webhook_url=args.webhook_url, webhook_secret=args.webhook_secret
    )
    for spec in args.price:
        price_id, _, amount = spec.partition("=")
        cents, _, currency = amount.partition(":")
        server.add_price(price_id, unit_amount=int(cents), currency=currency or "usd")
    print(f"Test Stripe listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
