from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from accounts.access import access_membership_by_id
from accounts.models import Role
from core.api_errors import answering
from core.openapi import error_response

from . import services
from .plans import PAID_PLANS
from .prices import plan_offers
from .services import MAX_SEATS
from .stripe_api import BillingUnavailable


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "billing_unavailable"
    default_detail = "Billing is unavailable right now. Try again shortly."


def _unavailable(error: BillingUnavailable) -> ServiceUnavailable:
    return ServiceUnavailable(detail=error.message, code=error.code)


class CheckoutSerializer(serializers.Serializer):
    plan = serializers.ChoiceField(choices=[plan.code for plan in PAID_PLANS])
    seats = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_SEATS,
        help_text="Team only: seats to buy. Defaults to the number of members; never fewer.",
    )


SessionUrlSerializer = inline_serializer("BillingSessionUrl", {"url": serializers.URLField()})
UNAVAILABLE = error_response(
    "billing_unavailable",
    "billing_not_configured",
    description="Billing is not configured, or Stripe is unreachable.",
)
# Well-formed, but at odds with the workspace as it is now.
CHECKOUT_CONFLICTS = (
    "team_workspace_required",
    "too_few_seats",
    "seats_not_per_seat",
    "already_subscribed",
)


def _absolute(request, name: str, workspace) -> str:
    return request.build_absolute_uri(reverse(name, kwargs={"workspace_slug": workspace.slug}))


class CheckoutView(APIView):
    @extend_schema(
        request=CheckoutSerializer,
        responses={
            201: SessionUrlSerializer,
            409: error_response(
                *CHECKOUT_CONFLICTS,
                description="The team plan needs a team workspace and a seat for each member; "
                "the premium plan has one seat; a workspace already on a paid plan changes it "
                "through the portal.",
            ),
            503: UNAVAILABLE,
        },
        summary="Start a Stripe Checkout for a paid plan (owners and admins)",
    )
    def post(self, request, wid: int):
        workspace = access_membership_by_id(request.user, wid, min_role=Role.ADMIN).workspace
        data = CheckoutSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            with answering(conflict=CHECKOUT_CONFLICTS):
                url = services.checkout_session_create(
                    workspace=workspace,
                    user=request.user,
                    plan=data.validated_data["plan"],
                    seats=data.validated_data.get("seats"),
                    success_url=_absolute(request, "workspace_billing_success", workspace)
                    + f"?plan={data.validated_data['plan']}",
                    cancel_url=_absolute(request, "workspace_billing_canceled", workspace),
                )
        except BillingUnavailable as error:
            raise _unavailable(error) from error
        return Response({"url": url}, status=status.HTTP_201_CREATED)


class PortalView(APIView):
    @extend_schema(
        request=None,
        responses={201: SessionUrlSerializer, 503: UNAVAILABLE},
        summary="Open the Stripe customer portal (owners and admins)",
    )
    def post(self, request, wid: int):
        workspace = access_membership_by_id(request.user, wid, min_role=Role.ADMIN).workspace
        try:
            url = services.portal_session_create(
                workspace=workspace,
                user=request.user,
                return_url=_absolute(request, "workspace_billing", workspace),
            )
        except BillingUnavailable as error:
            raise _unavailable(error) from error
        return Response({"url": url}, status=status.HTTP_201_CREATED)


PriceSerializer = inline_serializer(
    "PlanPrice",
    {
        "amount": serializers.DecimalField(max_digits=12, decimal_places=2),
        "currency": serializers.CharField(help_text="ISO 4217, lower case"),
        "interval": serializers.ChoiceField(choices=["day", "week", "month", "year"]),
        "per_seat": serializers.BooleanField(),
        "display": serializers.CharField(help_text='e.g. "$19.00 a month"'),
    },
    allow_null=True,
)
PLAN_FIELDS = (
    "Plan",
    {
        "code": serializers.CharField(),
        "name": serializers.CharField(),
        "tagline": serializers.CharField(),
        "per_seat": serializers.BooleanField(),
        "entitlements": serializers.DictField(help_text="what one seat of the plan gives"),
        "price": PriceSerializer,
        "available": serializers.BooleanField(
            help_text="whether this server can sell the plan now; false: not available yet"
        ),
    },
)


class PlanListView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "public"

    @extend_schema(
        responses={200: inline_serializer(*PLAN_FIELDS, many=True)},
        summary="The plans, what each gives and what it costs (public)",
    )
    def get(self, request):
        return Response(
            [
                {
                    "code": offer.plan.code,
                    "name": offer.plan.name,
                    "tagline": offer.plan.tagline,
                    "per_seat": offer.plan.per_seat,
                    "entitlements": offer.plan.base.as_dict(),
                    "price": offer.price.as_dict() if offer.price else None,
                    "available": offer.sellable if offer.plan.is_paid else True,
                }
                for offer in plan_offers().values()
            ]
        )


class ResumeView(APIView):
    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "ResumedPlan",
                {"plan": serializers.CharField(), "renews_at": serializers.DateTimeField()},
            ),
            409: error_response("nothing_to_resume"),
            503: UNAVAILABLE,
        },
        summary="Undo a cancellation set for the end of the paid period (owners and admins)",
    )
    def post(self, request, wid: int):
        workspace = access_membership_by_id(request.user, wid, min_role=Role.ADMIN).workspace
        try:
            with answering(conflict=("nothing_to_resume",)):
                subscription = services.subscription_resume(workspace=workspace, user=request.user)
        except BillingUnavailable as error:
            raise _unavailable(error) from error
        return Response({"plan": subscription.plan, "renews_at": subscription.current_period_end})
