from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.mfa.utils import is_mfa_enabled
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from core.api_errors import answering
from core.openapi import error_response
from core.serializer_fields import TextField

from . import services
from .access import access_membership_by_id
from .models import OutgoingEmail, PersonalAccessToken, Role


class CredentialsSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = TextField(max_length=128, trim_whitespace=False)


class TokenRequestSerializer(CredentialsSerializer):
    name = TextField(
        max_length=100,
        required=False,
        default="API",
        help_text="What the token is for, as the token list shows it.",
    )


class SignupAnswerSerializer(serializers.Serializer):
    email = serializers.EmailField()
    detail = serializers.CharField()


class TokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = PersonalAccessToken
        fields = ["id", "name", "created", "last_used_at"]
        read_only_fields = fields


class NewTokenSerializer(TokenSerializer):
    token = serializers.CharField(
        read_only=True, help_text="The token itself. It is shown this once and never again."
    )

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class TokenCreateSerializer(serializers.Serializer):
    name = TextField(max_length=100)


class TooManyLoginAttempts(exceptions.APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "too_many_login_attempts"
    default_detail = "Too many failed login attempts. Try again later."


def _new_token_answer(token: PersonalAccessToken, secret: str) -> dict:
    return {**TokenSerializer(token).data, "token": secret}


# Django's password validators name their refusals with these codes.
SIGNUP_REFUSALS = (
    "password_too_short",
    "password_too_common",
    "password_entirely_numeric",
    "password_too_similar",
)


class CredentialsView(APIView):
    """Takes an email and a password from anyone; throttled against guessing."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    def credentials(self, request, serializer_class=CredentialsSerializer) -> dict:
        data = serializer_class(data=request.data)
        data.is_valid(raise_exception=True)
        return data.validated_data


class SignupView(CredentialsView):
    @extend_schema(
        request=CredentialsSerializer,
        responses={201: SignupAnswerSerializer, 400: error_response(*SIGNUP_REFUSALS)},
        description=(
            "Creates the account and emails a link to verify the address; no token is "
            "given until the address is verified. An address that already has an "
            "account gets the same answer, and its owner an email saying so."
        ),
    )
    def post(self, request):
        credentials = self.credentials(request)
        email = credentials["email"].strip().lower()
        services.user_signup(email=email, password=credentials["password"], request=request)
        return Response(
            {
                "email": email,
                "detail": (
                    f"We sent an email to {email}. Follow its link to verify the address, "
                    "then ask for a token at /api/v1/auth/token/."
                ),
            },
            status=status.HTTP_201_CREATED,
        )


class TokenView(CredentialsView):
    @extend_schema(
        request=TokenRequestSerializer,
        responses={
            200: NewTokenSerializer,
            400: error_response("invalid_credentials", "email_unverified", "mfa_required"),
            429: error_response("too_many_login_attempts", "throttled"),
        },
        description=(
            "Makes a new personal access token from an email and password. Failed "
            "attempts count against the account exactly as on the portal's login "
            "(429 `too_many_login_attempts` once it is locked). An unverified address "
            "gets 400 `email_unverified`; an account with two-factor authentication "
            "makes its tokens on the portal's account page."
        ),
    )
    def post(self, request):
        credentials = self.credentials(request, TokenRequestSerializer)
        adapter = get_account_adapter(request._request)
        try:
            user = adapter.authenticate(
                request._request,
                email=credentials["email"].strip().lower(),
                password=credentials["password"],
            )
        except DjangoValidationError as error:
            if error.code == "too_many_login_attempts":
                raise TooManyLoginAttempts(" ".join(error.messages)) from None
            raise
        if user is None:
            raise serializers.ValidationError(
                "Wrong email or password.", code="invalid_credentials"
            )
        if is_mfa_enabled(user):
            raise serializers.ValidationError(
                "This account signs in with a second factor: make a token on the "
                "account page of the portal instead.",
                code="mfa_required",
            )
        token, secret = services.token_create(user=user, name=credentials["name"])
        return Response(_new_token_answer(token, secret))


class TokenListView(APIView):
    @extend_schema(
        responses={200: TokenSerializer(many=True)},
        description="Your tokens, newest first.",
    )
    def get(self, request):
        tokens = PersonalAccessToken.objects.filter(user=request.user)
        return Response(TokenSerializer(tokens, many=True).data)

    @extend_schema(
        request=TokenCreateSerializer,
        responses={
            201: NewTokenSerializer,
        },
        description="Makes a named token. The answer is the only time the token is shown.",
    )
    def post(self, request):
        data = TokenCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token, secret = services.token_create(user=request.user, name=data.validated_data["name"])
        return Response(_new_token_answer(token, secret), status=status.HTTP_201_CREATED)


class TokenDetailView(APIView):
    @extend_schema(
        responses={
            204: OpenApiResponse(description="Revoked."),
        },
        description="Revokes the token; it stops working at once.",
    )
    def delete(self, request, token_id: int):
        try:
            services.token_revoke(user=request.user, token_id=token_id)
        except PersonalAccessToken.DoesNotExist:
            raise exceptions.NotFound() from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationCreateSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=[Role.MEMBER, Role.ADMIN], default=Role.MEMBER)


class InvitationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    role = serializers.CharField()
    expires_at = serializers.DateTimeField()
    email_status = serializers.ChoiceField(
        choices=OutgoingEmail.Status.choices,
        help_text="`failed` when every attempt to email the invitation failed: send it again "
        "with POST .../invitations/{id}/resend/.",
    )


INVITATION_CONFLICTS = ("personal_workspace", "already_member", "already_invited")


class InvitationListView(APIView):
    @extend_schema(
        responses={200: InvitationSerializer(many=True), 403: error_response("permission_denied")},
        description="Pending invitations (owners and admins).",
    )
    def get(self, request, wid: int):
        workspace = access_membership_by_id(request.user, wid, min_role=Role.ADMIN).workspace
        pending = workspace.invitations.filter(accepted_at=None, revoked_at=None).select_related(
            "email_message"
        )
        return Response(InvitationSerializer(pending, many=True).data)

    @extend_schema(
        request=InvitationCreateSerializer,
        responses={
            201: InvitationSerializer,
            409: error_response(*INVITATION_CONFLICTS),
        },
        description="Invite someone by email (owners and admins). 409 when the workspace "
        "is a personal one, or the address is already a member or already invited.",
    )
    def post(self, request, wid: int):
        workspace = access_membership_by_id(request.user, wid).workspace
        data = InvitationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        with answering(conflict=INVITATION_CONFLICTS):
            invitation = services.invitation_create(
                workspace=workspace, invited_by=request.user, **data.validated_data
            )
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)


class InvitationResendView(APIView):
    @extend_schema(request=None, responses={200: InvitationSerializer})
    def post(self, request, wid: int, invitation_id: int):
        workspace = access_membership_by_id(request.user, wid, min_role=Role.ADMIN).workspace
        invitation = workspace.invitations.filter(pk=invitation_id).first()
        if invitation is None:
            raise Http404("No such invitation.")
        invitation = services.invitation_resend(invitation=invitation, sent_by=request.user)
        return Response(InvitationSerializer(invitation).data)
