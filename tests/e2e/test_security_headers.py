"""Every page carries a Content-Security-Policy without 'unsafe-inline' and a
Permissions-Policy, and the pages still work under them in a real Chromium: the
portal, the API docs (Swagger UI) and the admin show no CSP violation."""

from __future__ import annotations

import pytest

from tests.conftest import staff_totp_enrolled, totp_now
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP
from tests.factories import DEFAULT_PASSWORD, UserFactory


def _assert_policies(response) -> None:
    policy = response["Content-Security-Policy"]
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert "default-src 'self'" in policy
    assert "camera=()" in response["Permissions-Policy"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/", "/accounts/login/", "/billing/pricing/", "/api/v1/docs/", "/api/v1/me/", "/x/"]
)
def test_every_kind_of_page_carries_both_policies(client, path):
    _assert_policies(client.get(path))


@pytest.mark.django_db
def test_the_admin_carries_both_policies(client):
    user = UserFactory(is_staff=True)
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    _assert_policies(client.get("/admin/"))


def _watch(page, problems: list[str]) -> None:
    page.on(
        "console",
        lambda message: (
            problems.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text
            or "Content-Security-Policy" in message.text
            else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(f"{page.url}: {error}"))


def _sign_in(page, portal: str, email: str, password: str, secret: str | None = None) -> None:
    page.goto(f"{portal}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    if secret:
        page.wait_for_url("**/accounts/2fa/authenticate/")
        page.fill("input[name=code]", totp_now(secret))
        page.click("form button[type=submit]")
    page.wait_for_load_state()


@pytest.mark.slow
@pytest.mark.browser
def test_portal_docs_and_admin_work_under_the_policy_in_chromium(
    portal, playwright_driver, customer, tmp_path
):
    workspace, person, _ = customer
    operator = UserFactory(email="ops@example.com", is_staff=True, is_superuser=True)
    secret = staff_totp_enrolled(operator)

    browser = playwright_driver.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )
    problems: list[str] = []
    try:
        docs = browser.new_page(viewport=DESKTOP)
        _watch(docs, problems)
        docs.goto(f"{portal}/api/v1/docs/")
        docs.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
        assert "Headshot Studio API" in docs.inner_text(".swagger-ui .info .title")
        docs.wait_for_selector(".opblock", timeout=20_000)

        page = browser.new_page(viewport=DESKTOP)
        _watch(page, problems)
        for path in ("/", "/billing/pricing/"):
            page.goto(f"{portal}{path}")
        _sign_in(page, portal, person.email, DEFAULT_PASSWORD)
        for path in (
            "/dashboard/",
            f"/w/{workspace.slug}/",
            f"/w/{workspace.slug}/orders/",
            "/account/tokens/",
            "/accounts/email/",
        ):
            page.goto(f"{portal}{path}")
            page.wait_for_load_state("networkidle")

        admin = browser.new_page(viewport=DESKTOP)
        _watch(admin, problems)
        _sign_in(admin, portal, operator.email, DEFAULT_PASSWORD, secret)
        for path in (
            "/admin/",
            "/admin/generation/order/",
            "/admin/generation/style/",
            "/admin/generation/style/add/",
            f"/admin/accounts/user/{person.pk}/change/",
            "/admin/accounts/workspace/",
        ):
            response = admin.goto(f"{portal}{path}")
            assert response.status == 200, path
            admin.wait_for_load_state("networkidle")
    finally:
        browser.close()
    assert problems == []
