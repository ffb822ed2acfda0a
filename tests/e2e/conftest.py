"""Fixtures for the browser walks: Chromium, people with their own profiles, the live
portal (pytest-django's live server, on the transactional test database), the
Stripe-shaped test server wired to its webhook, and the real GPU worker."""

from __future__ import annotations

import os

import pytest
from django.core.cache import cache

from tests.billing.stripe_server import FakeStripe
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, chromium_missing_reason
from tests.e2e.fixtures import customer, start_worker, tiny_model_dir  # noqa: F401 (fixtures)
from tests.e2e.support import seed_styles

WEBHOOK_SECRET = "whsec_e2e"
PREMIUM_PRICE = "price_premium_e2e"
TEAM_PRICE = "price_team_e2e"


@pytest.fixture(autouse=True)
def _needs_chromium(request):
    if request.node.get_closest_marker("browser") and (reason := chromium_missing_reason()):
        pytest.skip(reason)


@pytest.fixture(scope="session")
def playwright_driver():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop in this thread, and Django refuses ORM
    # calls from a thread with a running loop; the test's ORM calls are plain blocking
    # calls between browser steps, which is what the flag permits.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    driver = sync_playwright().start()
    yield driver
    driver.stop()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def open_browser(playwright_driver, tmp_path):
    """open_browser("owner") -> a Chromium of that person's own, with a fresh profile."""
    opened = []

    def open_for(person: str):
        context = playwright_driver.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path / f"profile-{person}"),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=DESKTOP,
            accept_downloads=True,
        )
        context.set_default_timeout(15_000)
        opened.append(context)
        return context

    yield open_for
    for context in opened:
        context.close()


@pytest.fixture
def portal(live_server, settings):
    """The running portal's base URL, with links in emails pointing at it."""
    settings.SITE_URL = live_server.url
    # Throttle counters live in the cache, shared with every other test in the process.
    cache.clear()
    seed_styles()
    return live_server.url


@pytest.fixture
def stripe_test_server(portal, settings):
    """Stripe-shaped server on loopback; paying on its checkout page calls our webhook."""
    server = FakeStripe(
        webhook_url=f"{portal}/billing/stripe/webhook/", webhook_secret=WEBHOOK_SECRET
    ).start()
    server.known_prices = {PREMIUM_PRICE, TEAM_PRICE}
    settings.STRIPE_SECRET_KEY = "sk_test_e2e"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_PRICE_PREMIUM = PREMIUM_PRICE
    settings.STRIPE_PRICE_TEAM = TEAM_PRICE
    settings.STRIPE_API_BASE = server.url
    yield server
    server.stop()
