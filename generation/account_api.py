"""The API's views of a person across the apps: who they are with each workspace's plan
(`/me/`), deleting the account with its data and downloading it, and the workspaces
(listed with their plans; a new team within the free-team limit)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import access_membership_by_id, workspaces_for_user
from accounts.models import Membership, Role, Workspace
from billing import services as billing_services
from billing.api import ServiceUnavailable
from billing.plans import entitlements
from billing.stripe_api import BillingUnavailable
from core.api_errors import answering
from core.json_input import JSONBodyParser
from core.openapi import error_response
from core.serializer_fields import TextField, visible_name

from .account_views import account_export_response
from .services import user_delete


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
        responses={
            204: None,
            403: error_response("wrong_password"),
            409: error_response("sole_owner"),
        },
        summary="Delete my account and my data (needs the password)",
    )
    def delete(self, request):
        data = AccountDeleteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            with answering(conflict=("sole_owner",)):
                user_delete(user=request.user, password=data.validated_data["password"])
        except DjangoValidationError as error:
            # A wrong password is a refused re-authentication, not a malformed request.
            if error.code == "wrong_password":
                raise exceptions.PermissionDenied(
                    " ".join(error.messages), code=error.code
                ) from error
            raise
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
    name = TextField(max_length=100, validators=[visible_name])


class WorkspaceListView(APIView):
    # A name is text: JSON only, so no form encoding can smuggle bytes into it.
    parser_classes = [JSONBodyParser]

    @extend_schema(responses=WorkspaceSerializer(many=True))
    def get(self, request):
        return Response(_serialize_workspaces(request.user, workspaces_for_user(request.user)))

    @extend_schema(
        request=WorkspaceCreateSerializer,
        responses={201: WorkspaceSerializer, 409: error_response("free_workspace_limit")},
        description="Create a team workspace. 409 `free_workspace_limit` when the caller "
        "already owns as many free team workspaces as one person may.",
    )
    def post(self, request):
        data = WorkspaceCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        with answering(conflict=("free_workspace_limit",)):
            workspace = billing_services.team_workspace_create(
                owner=request.user, name=data.validated_data["name"]
            )
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
