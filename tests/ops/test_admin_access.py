import pytest
from allauth.mfa.models import Authenticator

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ADMIN_PAGES = [
    "/admin/",
    "/admin/accounts/user/",
    "/admin/accounts/workspace/",
    "/admin/admin/logentry/",
]


def _with_totp(user):
    Authenticator.objects.create(user=user, type=Authenticator.Type.TOTP, data={"secret": "x"})
    return user


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_anonymous_visitors_are_sent_to_the_portal_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_the_admin_login_page_itself_is_replaced_by_the_two_factor_login(client):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2F"


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_non_staff_cannot_reach_any_admin_page(client, path):
    client.force_login(_with_totp(UserFactory()))
    response = client.get(path)
    assert response.status_code == 302
    assert not response["Location"].startswith("/admin/")


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_staff_without_a_second_factor_must_set_one_up_first(client, path):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/2fa/totp/activate/")


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_staff_with_a_second_factor_reach_the_admin(client, path):
    client.force_login(_with_totp(UserFactory(is_staff=True, is_superuser=True)))
    assert client.get(path).status_code == 200
