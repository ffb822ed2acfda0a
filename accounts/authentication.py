"""API authentication by personal access token (django-rest-knox underneath)."""

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from knox.auth import TokenAuthentication

from .models import PersonalAccessToken

# A token's last use is written at most this often: a client polling an order's
# status several times a second would otherwise write a row on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class PersonalAccessTokenAuthentication(TokenAuthentication):
    def validate_user(self, auth_token: PersonalAccessToken):
        user, token = super().validate_user(auth_token)
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
            PersonalAccessToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        return user, token


class PersonalAccessTokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes it: `Authorization: Token <token>`."""

    target_class = PersonalAccessTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(
            header_name="Authorization", token_prefix=self.target.authenticate_header(None)
        )
