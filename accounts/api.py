from django.contrib.auth import authenticate
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from billing.api import ServiceUnavailable
from billing.plans import entitlements
from billing.stripe_api import BillingUnavailable
from generation.services import user_delete

from . import services
from .access import access_membership_by_id, workspaces_for_user
from .account_export import account_export_response
from .models import Membership, Role, Workspace


class CredentialsSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=128, trim_whitespace=False)


TokenSerializer = inline_serializer("Token", {"token": serializers.CharField()})


class CredentialsView(APIView):
    """Takes an email and a password from anyone; throttled against guessing."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    def credentials(self, request) -> dict:
        data = CredentialsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return data.validated_data


class SignupView(CredentialsView):
    @extend_schema(request=CredentialsSerializer, responses={201: TokenSerializer})
    def post(self, request):
        credentials = self.credentials(request)
        user = services.user_signup(
            email=credentials["email"], password=credentials["password"], request=request
        )
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key}, status=status.HTTP_201_CREATED)


class TokenView(CredentialsView):
    @extend_schema(request=CredentialsSerializer, responses={200: TokenSerializer})
    def post(self, request):
        credentials = self.credentials(request)
        user = authenticate(
            request,
            email=credentials["email"].strip().lower(),
            password=credentials["password"],
        )
        if user is None:
            raise serializers.ValidationError(
                "Wrong email or password.", code="invalid_credentials"
            )
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


class WorkspaceSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()
    plan = serializers.SerializerMethodField()
    entitlements = serializers.SerializerMethodField()

    class Meta:
        model = Workspace
        fields = ["id", "slug", "name", "kind", "created_at", "role", "plan", "entitlements"]
        read_only_fields = fields

    def get_role(self, workspace) -> str:
        return self.context["roles"][workspace.pk]

    def get_plan(self, workspace) -> str:
        return entitlements(workspace).plan

    def get_entitlements(self, workspace) -> dict:
        return entitlements(workspace).as_dict()


def _serialize_workspaces(user, workspaces) -> list[dict]:
    roles = dict(
        Membership.objects.filter(user=user, workspace__in=workspaces).values_list(
            "workspace_id", "role"
        )
    )
    return WorkspaceSerializer(workspaces, many=True, context={"roles": roles}).data


class AccountDeleteSerializer(serializers.Serializer):
    password = serializers.CharField(max_length=128, trim_whitespace=False)


class MeView(APIView):
    @extend_schema(
        responses=inline_serializer(
            "Me",
            {
                "id": serializers.IntegerField(),
                "email": serializers.EmailField(),
                "full_name": serializers.CharField(),
                "workspaces": WorkspaceSerializer(many=True),
            },
        )
    )
    def get(self, request):
        user = request.user
        return Response(
            {
                "id": user.pk,
                "email": user.email,
                "full_name": user.full_name,
                "workspaces": _serialize_workspaces(user, workspaces_for_user(user)),
            }
        )

    @extend_schema(
        request=AccountDeleteSerializer,
        responses={204: None},
        summary="Delete my account and my data (needs the password)",
    )
    def delete(self, request):
        data = AccountDeleteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            user_delete(user=request.user, password=data.validated_data["password"])
        except BillingUnavailable as error:
            raise ServiceUnavailable(detail=error.message, code=error.code) from error
        return Response(status=status.HTTP_204_NO_CONTENT)


class AccountExportView(APIView):
    @extend_schema(
        responses={(200, "application/zip"): OpenApiTypes.BINARY},
        summary="Download my data: a zip of my headshots and a JSON of my orders and invoices",
    )
    def get(self, request):
        return account_export_response(request.user)


class WorkspaceCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)


class WorkspaceListView(APIView):
    @extend_schema(responses=WorkspaceSerializer(many=True))
    def get(self, request):
        return Response(_serialize_workspaces(request.user, workspaces_for_user(request.user)))

    @extend_schema(request=WorkspaceCreateSerializer, responses={201: WorkspaceSerializer})
    def post(self, request):
        data = WorkspaceCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        workspace = services.workspace_create(owner=request.user, name=data.validated_data["name"])
        return Response(
            WorkspaceSerializer(workspace, context={"roles": {workspace.pk: Role.OWNER}}).data,
            status=status.HTTP_201_CREATED,
        )


class WorkspaceDetailView(APIView):
    @extend_schema(responses=WorkspaceSerializer)
    def get(self, request, wid: int):
        membership = access_membership_by_id(request.user, wid)
        workspace = membership.workspace
        return Response(
            WorkspaceSerializer(workspace, context={"roles": {workspace.pk: membership.role}}).data
        )


class InvitationCreateSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    role = serializers.ChoiceField(choices=[Role.MEMBER, Role.ADMIN], default=Role.MEMBER)


class InvitationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    role = serializers.CharField()
    expires_at = serializers.DateTimeField()


class InvitationListView(APIView):
    @extend_schema(responses=InvitationSerializer(many=True))
    def get(self, request, wid: int):
        workspace = access_membership_by_id(request.user, wid, min_role=Role.ADMIN).workspace
        pending = workspace.invitations.filter(accepted_at=None, revoked_at=None)
        return Response(InvitationSerializer(pending, many=True).data)

    @extend_schema(request=InvitationCreateSerializer, responses={201: InvitationSerializer})
    def post(self, request, wid: int):
        workspace = access_membership_by_id(request.user, wid).workspace
        data = InvitationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invitation = services.invitation_create(
            workspace=workspace, invited_by=request.user, **data.validated_data
        )
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)
