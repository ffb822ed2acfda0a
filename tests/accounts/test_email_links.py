import re

import pytest
from django.core import mail

from accounts.models import Membership

pytestmark = pytest.mark.django_db


def test_the_verification_email_names_the_product_and_its_link_works(
    client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/accounts/signup/",
            {
                "email": "dana@example.com",
                "password1": "a-long-enough-passphrase",
                "password2": "a-long-enough-passphrase",
            },
            HTTP_HOST="127.0.0.1:8621",
        )
    assert response.status_code == 302
    message = mail.outbox[-1]
    assert message.subject.startswith("[Headshot Studio] ")
    assert message.body.startswith("Hello from Headshot Studio!")
    assert "The Headshot Studio team" in message.body
    assert "Hello from 127.0.0.1" not in message.body

    # The link points where the person signed up, and it confirms the address.
    link = re.search(r"http://(\S+?)(/accounts/confirm-email/\S+/)", message.body)
    assert link.group(1) == "127.0.0.1:8621"
    assert client.get(link.group(2), HTTP_HOST="127.0.0.1:8621").status_code == 200
    assert client.post(link.group(2), HTTP_HOST="127.0.0.1:8621").status_code == 302
    login = client.post(
        "/accounts/login/",
        {"login": "dana@example.com", "password": "a-long-enough-passphrase"},
        HTTP_HOST="127.0.0.1:8621",
    )
    assert login.status_code == 302 and login.url == "/home/"
    # With one workspace (their personal one), home is its studio.
    [membership] = Membership.objects.filter(user__email="dana@example.com")
    landing = client.get("/home/", HTTP_HOST="127.0.0.1:8621")
    assert landing.url == f"/w/{membership.workspace.slug}/"
