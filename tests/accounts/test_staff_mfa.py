"""Staff reach the admin only with a second factor set through a one-time enrollment link."""

import base64
import re
import time
from io import StringIO

import pytest
from allauth.mfa.models import Authenticator
from django.core import signing
from django.core.management import call_command
from django.test import Client

from accounts.models import User
from tests.conftest import forget_used_totp_codes, totp_now
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

STAFF_PASSWORD = "a-staff-passphrase-long-enough"


def _link_path(output: str) -> str:
    return re.search(r"http://\S+(/staff/enroll/\S+/)", output).group(1)


def _command(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def _enroll(browser: Client, path: str, *, password: str | None = STAFF_PASSWORD):
    page = browser.get(path)
    assert page.status_code == 200, page.content
    secret = page.context["secret"]
    data = {"code": totp_now(secret)}
    if password is not None:
        data |= {"password1": password, "password2": password}
    return browser.post(path, data), secret


def _sign_in(browser: Client, email: str, password: str, secret: str | None = None):
    response = browser.post("/accounts/login/", {"login": email, "password": password})
    if secret is not None:
        assert response["Location"].startswith("/accounts/2fa/authenticate/"), response
        forget_used_totp_codes()
        response = browser.post("/accounts/2fa/authenticate/", {"code": totp_now(secret)})
        assert response.status_code == 302, response.content
    return response


def test_a_staff_account_enrolls_through_its_link_once_and_then_opens_the_admin():
    output = _command("create_staff_account", "Ops@Example.com", "--superuser")
    staff = User.objects.get(email="ops@example.com")
    assert staff.is_staff and staff.is_superuser and not staff.has_usable_password()
    path = _link_path(output)

    done, secret = _enroll(Client(), path)
    assert done.status_code == 302, done.content
    assert Authenticator.objects.filter(user=staff, type="totp").count() == 1

    again = Client().get(path)
    assert again.status_code == 400
    assert "already used" in again.content.decode()

    browser = Client()
    _sign_in(browser, "ops@example.com", STAFF_PASSWORD, secret)
    assert browser.get("/admin/").status_code == 200


def test_an_enrollment_link_expires_after_an_hour(monkeypatch):
    path = _link_path(_command("create_staff_account", "late@example.com"))
    made_at = time.time()
    monkeypatch.setattr(signing.time, "time", lambda: made_at + 3601)
    response = Client().get(path)
    assert response.status_code == 400
    assert "expired" in response.content.decode()
    assert not Authenticator.objects.exists()


def test_the_code_used_to_enroll_cannot_be_replayed_at_login():
    path = _link_path(_command("create_staff_account", "replay@example.com"))
    browser = Client()
    browser.get(path)
    code = totp_now(browser.session[next(k for k in browser.session.keys() if "staff" in k)])
    data = {"code": code, "password1": STAFF_PASSWORD, "password2": STAFF_PASSWORD}
    assert browser.post(path, data).status_code == 302
    signing_in = Client()
    signing_in.post("/accounts/login/", {"login": "replay@example.com", "password": STAFF_PASSWORD})
    replayed = signing_in.post("/accounts/2fa/authenticate/", {"code": code})
    assert replayed.status_code == 200
    assert signing_in.get("/admin/").status_code == 302


def test_a_wrong_code_enrolls_nothing():
    path = _link_path(_command("create_staff_account", "typo@example.com"))
    browser = Client()
    browser.get(path)
    data = {"code": "000000", "password1": STAFF_PASSWORD, "password2": STAFF_PASSWORD}
    assert browser.post(path, data).status_code == 200
    assert not Authenticator.objects.exists()
    assert not User.objects.get(email="typo@example.com").has_usable_password()


def test_staff_without_an_enrolled_second_factor_get_no_admin_and_cannot_enroll_themselves():
    staff = UserFactory(email="staff@example.com", is_staff=True, is_superuser=True)
    browser = Client()
    _sign_in(browser, staff.email, DEFAULT_PASSWORD)

    admin = browser.get("/admin/")
    assert admin.status_code == 403
    assert "enrollment link" in admin.content.decode()
    assert browser.get("/accounts/2fa/totp/activate/").status_code == 403
    assert browser.post("/accounts/2fa/totp/activate/", {"code": "123456"}).status_code == 403
    assert not Authenticator.objects.exists()


def test_a_customers_own_authenticator_does_not_open_the_admin_after_promotion():
    person = UserFactory(email="promoted@example.com")
    secret = base64.b32encode(b"0123456789abcdefghij").decode()
    from allauth.mfa.totp.internal.auth import TOTP

    TOTP.activate(person, secret)
    User.objects.filter(pk=person.pk).update(is_staff=True)
    browser = Client()
    _sign_in(browser, person.email, DEFAULT_PASSWORD, secret)
    assert browser.get("/admin/").status_code == 403


def test_createsuperuser_accounts_follow_the_same_rule(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", STAFF_PASSWORD)
    call_command("createsuperuser", interactive=False, email="root@example.com", stdout=StringIO())
    root = User.objects.get(email="root@example.com")
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=root, email=root.email, primary=True, verified=True)
    browser = Client()
    _sign_in(browser, root.email, STAFF_PASSWORD)
    assert browser.get("/admin/").status_code == 403

    path = _link_path(_command("issue_staff_enrollment", "root@example.com"))
    done, secret = _enroll(Client(), path, password=None)
    assert done.status_code == 302

    # The session that signed in with the password alone does not become an admin one.
    assert browser.get("/admin/").status_code == 302
    fresh = Client()
    _sign_in(fresh, root.email, STAFF_PASSWORD, secret)
    assert fresh.get("/admin/").status_code == 200


def test_enrollment_links_are_only_for_staff():
    UserFactory(email="customer@example.com")
    with pytest.raises(Exception, match="not a staff account"):
        _command("issue_staff_enrollment", "customer@example.com")
