import pytest
from allauth.mfa.models import Authenticator

from tests.conftest import staff_signed_in
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
def test_staff_without_an_enrolled_second_factor_are_refused_without_a_way_to_enroll(client, path):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.get(path)
    assert response.status_code == 403
    assert "enrollment link" in response.content.decode()


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_staff_signed_in_with_their_enrolled_second_factor_reach_the_admin(client, path):
    staff_signed_in(client, UserFactory(is_staff=True, is_superuser=True))
    assert client.get(path).status_code == 200


def test_an_enrolled_staff_session_without_the_code_is_signed_out(client):
    from tests.conftest import staff_totp_enrolled

    staff = UserFactory(is_staff=True, is_superuser=True)
    staff_totp_enrolled(staff)
    client.force_login(staff)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert client.get("/dashboard/").status_code == 302
