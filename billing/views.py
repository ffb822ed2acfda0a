from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.access import access_membership_by_slug, workspaces_for_user
from accounts.models import Role
from core.api_errors import json_error

from . import services
from .forms import CheckoutForm
from .models import BillingAccount
from .plans import PAID_PLANS, PLANS, entitlements, subscription_current
from .prices import plan_offers, plan_sellable
from .stripe_api import BillingUnavailable, WebhookRejected, webhook_event_verify


@require_GET
def pricing(request):
    workspaces = workspaces_for_user(request.user).order_by("kind", "name")
    return render(
        request,
        "billing/pricing.html",
        {"workspaces": workspaces, "any_sellable": any(map(plan_sellable, PAID_PLANS))},
    )


def workspace_billing_page(request, membership, *, usage=None) -> HttpResponse:
    """The workspace's billing page. Usage is counted above billing (by generation, whose
    view calls this with it); without it the page shows the quota alone."""
    workspace = membership.workspace
    subscription = subscription_current(workspace)
    offers = plan_offers()
    upgrade_offers = [
        offers[plan.code]
        for plan in PAID_PLANS
        if not plan.per_seat or workspace.kind == workspace.Kind.TEAM
    ]
    context = {
        "workspace": workspace,
        "can_manage": membership.has_role(Role.ADMIN),
        "subscription": subscription,
        # Canceled outright, the paid period still runs but cannot be resumed: a new
        # checkout is the way back.
        "can_upgrade": subscription is None or subscription.status == subscription.Status.CANCELED,
        "upgrade_offers": upgrade_offers,
        "current_price": offers[subscription.plan].price if subscription else None,
        "any_sellable": any(offer.sellable for offer in upgrade_offers),
        "rights": entitlements(workspace),
        "usage": usage,
        "has_customer": BillingAccount.objects.for_workspace(workspace)
        .filter(stripe_customer_id__isnull=False)
        .exists(),
        "member_count": workspace.memberships.count(),
    }
    # The checkout and portal forms post here and are redirected on to Stripe's pages;
    # Chromium holds such redirects to the page's CSP form-action, so let them through.
    response = render(request, "billing/workspace_billing.html", context)
    response._csp_update = {"form-action": _stripe_page_origins()}
    return response


def _stripe_page_origins() -> list[str]:
    """Where Stripe's checkout and customer portal pages live: Stripe's own hosts, or a
    Stripe-compatible server's origin (`STRIPE_API_BASE`, tests and demos)."""
    origins = ["https://checkout.stripe.com", "https://billing.stripe.com"]
    if base := getattr(settings, "STRIPE_API_BASE", ""):
        parts = urlsplit(base)
        if parts.scheme and parts.netloc:
            origins.append(f"{parts.scheme}://{parts.netloc}")
    return origins


def _absolute(request, name: str, workspace) -> str:
    return request.build_absolute_uri(reverse(name, kwargs={"workspace_slug": workspace.slug}))


def _to_stripe(request, workspace, create_session: Callable[[], str]):
    """Send the person to the Stripe page `create_session` makes, or back with why not."""
    try:
        url = create_session()
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    except BillingUnavailable as error:
        messages.error(request, error.message)
    else:
        return redirect(url)
    return redirect("workspace_billing", workspace_slug=workspace.slug)


@login_required
@require_POST
def workspace_billing_checkout(request, workspace_slug: str):
    workspace = access_membership_by_slug(
        request.user, workspace_slug, min_role=Role.ADMIN
    ).workspace
    form = CheckoutForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a plan, and a whole number of seats for Team.")
        return redirect("workspace_billing", workspace_slug=workspace.slug)
    return _to_stripe(
        request,
        workspace,
        lambda: services.checkout_session_create(
            workspace=workspace,
            user=request.user,
            plan=form.cleaned_data["plan"],
            seats=form.cleaned_data["seats"],
            success_url=_absolute(request, "workspace_billing_success", workspace)
            + f"?plan={form.cleaned_data['plan']}",
            cancel_url=_absolute(request, "workspace_billing_canceled", workspace),
        ),
    )


@login_required
@require_POST
def workspace_billing_portal(request, workspace_slug: str):
    workspace = access_membership_by_slug(
        request.user, workspace_slug, min_role=Role.ADMIN
    ).workspace
    return _to_stripe(
        request,
        workspace,
        lambda: services.portal_session_create(
            workspace=workspace,
            user=request.user,
            return_url=_absolute(request, "workspace_billing", workspace),
        ),
    )


@login_required
@require_POST
def workspace_billing_resume(request, workspace_slug: str):
    workspace = access_membership_by_slug(
        request.user, workspace_slug, min_role=Role.ADMIN
    ).workspace
    try:
        subscription = services.subscription_resume(workspace=workspace, user=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    except BillingUnavailable as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            f"{subscription.get_plan_display()} goes on: it renews on "
            f"{subscription.current_period_end:%b %-d, %Y}.",
        )
    return redirect("workspace_billing", workspace_slug=workspace.slug)


@login_required
@require_GET
def workspace_billing_success(request, workspace_slug: str):
    """Back from a paid checkout: straight to making headshots, with a welcome."""
    workspace = access_membership_by_slug(request.user, workspace_slug).workspace
    plan = PLANS.get(request.GET.get("plan", ""))
    name = plan.name if plan and plan.is_paid else "your new plan"
    whose = f"{workspace.name} gets" if workspace.kind == workspace.Kind.TEAM else "you get"
    messages.success(
        request,
        f"Welcome to {name}! Payment received: {whose} every style and 4K as soon as "
        "Stripe confirms it, usually within seconds.",
        extra_tags="welcome",
    )
    return redirect("studio", workspace_slug=workspace.slug)


@login_required
@require_GET
def workspace_billing_canceled(request, workspace_slug: str):
    workspace = access_membership_by_slug(request.user, workspace_slug).workspace
    return render(request, "billing/checkout_result.html", {"workspace": workspace})


@csrf_exempt
@require_POST
def stripe_webhook(request):
    """Stripe's deliveries. Any non-2xx answer makes Stripe retry later, so only a
    problem on our side answers 503; a request that is not a genuine event gets 400."""
    try:
        event = webhook_event_verify(
            payload=request.body, signature=request.headers.get("Stripe-Signature")
        )
        record = services.stripe_event_process(event=event)
    except WebhookRejected as error:
        return json_error(status_code=400, code=error.code, message=error.message)
    except BillingUnavailable as error:
        return json_error(status_code=503, code=error.code, message=error.message)
    return JsonResponse(
        {"received": True, "duplicate": record is None, "outcome": record and record.outcome}
    )
