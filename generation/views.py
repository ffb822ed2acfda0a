"""The customer portal under /w/<workspace_slug>/.

Pages render once; the studio's scripts (static/js/) then talk to the JSON endpoints
here, with the session and its CSRF token. The upload, order and cancel endpoints also
work as plain form posts (redirect plus a message) when scripts are off. Images are
streamed only after an access check.
"""

import math
from functools import wraps
from types import SimpleNamespace

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.core.paginator import Paginator
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    HttpResponseNotAllowed,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET
from rest_framework.throttling import ScopedRateThrottle

from accounts.access import access_membership_by_slug
from accounts.models import Role
from billing import views as billing_views
from billing.plans import entitlements
from core.api_errors import PaymentRequired, json_error
from core.json_input import MalformedJSON, json_loads

from . import framing, images, selectors, services
from .api import file_response, headshot_response, open_headshot
from .likeness import likeness_label, likeness_score_text, likeness_title, likeness_tone
from .models import Order, SourcePhoto
from .queue import gpu_queue_for
from .queue_selectors import new_order_queue_standing, order_queue_standing
from .samples import placeholder_svg, sample_url
from .serializers import OrderCreateSerializer, PhotoSerializer, order_payload

ORDER_POLL_MS = 2000


def workspace_view(*methods: str):
    """Resolve the membership before anything else, so an outsider gets 404 for every
    path and method (never a 405 that confirms the workspace exists)."""

    def decorate(view):
        @login_required
        @wraps(view)
        def wrapper(request, workspace_slug: str, **kwargs):
            membership = access_membership_by_slug(request.user, workspace_slug)
            if request.method not in methods:
                return HttpResponseNotAllowed(methods)
            return view(request, membership, **kwargs)

        return wrapper

    return decorate


def _wants_json(request) -> bool:
    return (
        "application/json" in request.headers.get("Accept", "")
        or request.content_type == "application/json"
    )


def _throttled(request, scope: str) -> JsonResponse | None:
    """The API's throttle, applied to the portal's twin endpoints (same counters)."""
    throttle = ScopedRateThrottle()
    if throttle.allow_request(request, SimpleNamespace(throttle_scope=scope)):
        return None
    wait = math.ceil(throttle.wait() or 1)
    return json_error(
        status_code=429,
        code="throttled",
        message=f"Too many requests. Try again in {wait} seconds.",
    )


def _error_response(error: Exception) -> JsonResponse:
    if isinstance(error, PaymentRequired):
        return json_error(status_code=402, code=str(error.get_codes()), message=str(error.detail))
    codes = [item.code for item in error.error_list if item.code]
    return json_error(
        status_code=400, code=codes[0] if codes else "invalid", message=" ".join(error.messages)
    )


def _failed(request, error: Exception, *, back: str):
    if _wants_json(request):
        return _error_response(error)
    message = str(error.detail) if isinstance(error, PaymentRequired) else " ".join(error.messages)
    messages.error(request, message)
    return redirect(back)


def _order_json(
    order: Order, workspace, *, styles=None, headshots=None, replacements=None, standing=None
) -> dict:
    """The order as the portal shows it: the API's shape, except that `headshots` is the
    gallery (best match first, a redone headshot's replacement in its place), each with
    likeness in words, crops, its redo and the previous version, and the portal's URLs."""

    def headshot_url(headshot) -> str:
        return reverse("headshot_image", args=[workspace.slug, headshot.pk])

    gallery = selectors.order_gallery(
        headshots=list(order.headshots.all()) if headshots is None else headshots,
        replacements=(
            selectors.order_replacements(order=order) if replacements is None else replacements
        ),
    )
    data = order_payload(
        order,
        headshot_url=headshot_url,
        styles=styles,
        headshots=[item.headshot for item in gallery],
        queue_standing=standing,
    )
    data["hint"] = order.error_hint
    data["urls"] = {
        "page": reverse("order_detail", args=[workspace.slug, order.pk]),
        "status": reverse("order_status", args=[workspace.slug, order.pk]),
        "cancel": reverse("order_cancel", args=[workspace.slug, order.pk]),
        "download": reverse("order_download", args=[workspace.slug, order.pk]),
        "more": reverse("order_more", args=[workspace.slug, order.pk]),
    }
    redos = selectors.redos_by_headshot(
        workspace=workspace, headshot_ids=[item.headshot.pk for item in gallery]
    )
    for place, item in zip(gallery, data["headshots"], strict=True):
        headshot = place.headshot
        item["thumbnail_url"] = reverse("headshot_thumbnail", args=[workspace.slug, headshot.pk])
        # The page captions a headshot with its style's name, as the server-side gallery does.
        item["style_name"] = headshot.style.name
        item["download_url"] = f"{item['url']}?download=1"
        item["crops"] = [
            {"label": crop.label, "url": f"{item['url']}?crop={crop.slug}&download=1"}
            for crop in framing.CROPS.values()
        ]
        item["likeness_label"] = likeness_label(headshot.likeness)
        item["likeness_title"] = likeness_title(headshot.likeness)
        item["likeness_tone"] = likeness_tone(headshot.likeness)
        item["likeness_score"] = likeness_score_text(headshot.likeness)
        item["redo_url"] = reverse("headshot_redo", args=[workspace.slug, headshot.pk])
        item["chosen_at"] = headshot.chosen_at
        item["previous_url"] = place.previous and headshot_url(place.previous)
        redo = redos.get(headshot.pk)
        item["redo"] = redo and {
            "status": redo.status,
            "running": redo.running,
            "done": redo.done,
            "total": redo.total,
            "stage": redo.stage,
            "page": reverse("order_detail", args=[workspace.slug, redo.order_id]),
        }
    # The page keeps polling a finished order while one of its headshots is being redone.
    data["redoing"] = any(redo.running for redo in redos.values())
    return data


def _photo_json(photo: SourcePhoto, workspace) -> dict:
    return {
        **PhotoSerializer(photo).data,
        "status_url": reverse("photo_status", args=[workspace.slug, photo.pk]),
        "preview_url": reverse("photo_preview", args=[workspace.slug, photo.pk]),
        "delete_url": reverse("photo_delete", args=[workspace.slug, photo.pk]),
    }


def _preselected_photo_id(photos: list[dict]) -> int | None:
    # A photo turned down by the face check is never picked for the customer.
    usable = (photo["id"] for photo in photos if photo["check"]["status"] != "rejected")
    return next(usable, None)


@require_GET
def style_sample(request, slug: str):
    """A style's sample picture, public: the rendered or uploaded one, else a drawn
    placeholder. A versioned URL (samples.sample_url) is cached for a year."""
    style = selectors.styles_active().filter(slug=slug).first()
    if style is None:
        raise Http404("No such style.")
    current = request.GET.get("v") == sample_url(style).rpartition("=")[2]
    if style.sample:
        try:
            response = FileResponse(style.sample.open("rb"), content_type="image/jpeg")
        except FileNotFoundError:
            response = HttpResponse(placeholder_svg(style), content_type="image/svg+xml")
            current = False
    else:
        response = HttpResponse(placeholder_svg(style), content_type="image/svg+xml")
    # A placeholder is cached briefly: once a sample is rendered, pages pick it up soon.
    response["Cache-Control"] = (
        "public, max-age=31536000, immutable" if current and style.sample else "public, max-age=300"
    )
    return response


@workspace_view("GET")
def workspace_billing(request, membership):
    """The billing page, with this period's usage, which generation counts."""
    usage = selectors.quota_status(workspace=membership.workspace, user=request.user)
    return billing_views.workspace_billing_page(request, membership, usage=usage)


@workspace_view("GET")
def studio(request, membership):
    workspace = membership.workspace
    rights = entitlements(workspace)
    photos = [
        _photo_json(photo, workspace)
        for photo in selectors.photos_for_user(workspace=workspace, user=request.user)
    ]
    preselected = _preselected_photo_id(photos)
    context = {
        "workspace": workspace,
        "membership": membership,
        "rights": rights,
        "quota": selectors.quota_status(workspace=workspace, user=request.user),
        "styles": selectors.styles_for_workspace(workspace=workspace),
        "photos": photos,
        "preselected_photo_id": preselected,
        # Finished steps start folded into one line, so that on a phone the page opens
        # near what is left to do: the upload once there is a selfie to order with, the
        # photo choice when the one picked for the customer has passed the face check.
        "has_usable_photo": any(photo["check"]["status"] == "ok" for photo in photos),
        "photo_step_done": any(
            photo["id"] == preselected and photo["check"]["status"] == "ok" for photo in photos
        ),
        "orders": selectors.orders_visible(membership=membership)[:5],
        "standing": new_order_queue_standing(queue_name=gpu_queue_for(rights.queue_priority)),
        "show_placer": selectors.orders_show_placer(membership=membership),
        "limits": {
            "maxBytes": images.MAX_UPLOAD_BYTES,
            "minSide": images.MIN_SHORT_SIDE,
            "maxPixels": images.MAX_PIXELS,
            "maxPerStyle": services.MAX_PER_STYLE,
        },
        "accept": images.ACCEPTED_CONTENT_TYPES,
        "max_per_style": services.MAX_PER_STYLE,
    }
    return render(request, "generation/studio.html", context)


@workspace_view("GET", "POST")
def workspace_styles(request, membership):
    """The styles this workspace's members may order; Team owners and admins choose them."""
    workspace = membership.workspace
    if request.method == "POST":
        # The service checks the role and the plan itself; a member's post gets 403.
        try:
            chosen = services.workspace_styles_set(
                workspace=workspace, user=request.user, style_slugs=request.POST.getlist("styles")
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(
                request,
                f"Members can now order {len(chosen)} style{'s' if len(chosen) != 1 else ''}."
                if chosen
                else "Members can now order every style your plan includes.",
            )
        return redirect("workspace_styles", workspace_slug=workspace.slug)
    choices = selectors.styles_for_workspace(workspace=workspace)
    is_admin = membership.has_role(Role.ADMIN)
    context = {
        "workspace": workspace,
        "choices": choices,
        "restricted": not all(choice.chosen_by_admin for choice in choices),
        "is_admin": is_admin,
        "can_edit": is_admin and selectors.workspace_can_choose_styles(workspace=workspace),
    }
    return render(request, "generation/styles.html", context)


@workspace_view("POST")
def photo_upload(request, membership):
    back = reverse("studio", args=[membership.workspace.slug])
    if limited := _throttled(request, "upload"):
        return limited
    upload = request.FILES.get("image")
    try:
        if upload is None:
            raise ValidationError("Choose a photo to upload.", code="image_required")
        photo = services.photo_upload(
            workspace=membership.workspace, user=request.user, upload=upload
        )
    except ValidationError as error:
        return _failed(request, error, back=back)
    if _wants_json(request):
        return JsonResponse(_photo_json(photo, membership.workspace), status=201)
    messages.success(request, "Your selfie is uploaded. Now pick your styles.")
    return redirect(back)


@workspace_view("GET")
def photo_status(request, membership, photo_id: int):
    """The studio polls this while the face check runs."""
    photo = selectors.photo_get(
        workspace=membership.workspace, user=request.user, photo_id=photo_id
    )
    response = JsonResponse(_photo_json(photo, membership.workspace))
    response["Cache-Control"] = "no-store"
    return response


@workspace_view("GET")
def photo_preview(request, membership, photo_id: int):
    photo = selectors.photo_get(
        workspace=membership.workspace, user=request.user, photo_id=photo_id
    )
    try:
        preview = images.preview_jpeg(services.photo_read_image(photo=photo))
    except services.PhotoUnavailable:
        raise Http404("This photo is no longer stored.") from None
    response = HttpResponse(preview, content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=300"
    return response


@workspace_view("POST")
def photo_delete(request, membership, photo_id: int):
    photo = selectors.photo_get(
        workspace=membership.workspace, user=request.user, photo_id=photo_id
    )
    gone = services.photo_delete(photo=photo)
    message = (
        "Your selfie is deleted."
        if gone
        else "Your selfie is hidden and will be deleted from storage within the hour."
    )
    if _wants_json(request):
        return JsonResponse({"deleted": gone, "message": message})
    messages.success(request, message)
    return redirect("studio", workspace_slug=membership.workspace.slug)


def _order_input(request):
    """The order's fields, from a JSON body (the studio's script) or a form post."""
    try:
        if request.content_type != "application/json":
            return request.POST
        return json_loads(request.body or b"{}")
    except MalformedJSON as error:
        raise ValidationError(str(error), code="parse_error") from None
    except RequestDataTooBig:
        raise ValidationError(
            "The request is far larger than an order can be.", code="request_too_large"
        ) from None


@workspace_view("POST")
def order_create(request, membership):
    workspace = membership.workspace
    back = reverse("studio", args=[workspace.slug])
    if limited := _throttled(request, "order"):
        return limited
    try:
        data = OrderCreateSerializer(data=_order_input(request))
        if not data.is_valid():
            code, message = data.portal_error()
            raise ValidationError(message, code=code)
        fields = data.validated_data
        photo = selectors.photo_for_order(
            workspace=workspace, user=request.user, photo_id=fields["photo"]
        )
        order = services.order_create(
            workspace=workspace,
            user=request.user,
            photo=photo,
            style_slugs=fields["styles"],
            per_style=fields["per_style"],
        )
    except (ValidationError, PaymentRequired) as error:
        return _failed(request, error, back=back)
    page = reverse("order_detail", args=[workspace.slug, order.pk])
    if _wants_json(request):
        order = selectors.order_get(membership=membership, order_id=order.pk)
        return JsonResponse(_order_json(order, workspace), status=201)
    return redirect(page)


@workspace_view("GET")
def order_history(request, membership):
    orders = selectors.orders_visible(membership=membership).prefetch_related("styles")
    page = Paginator(orders, 20).get_page(request.GET.get("page"))
    return render(
        request,
        "generation/orders.html",
        {
            "workspace": membership.workspace,
            "membership": membership,
            "page": page,
            "show_placer": selectors.orders_show_placer(membership=membership),
        },
    )


@workspace_view("GET")
def order_detail(request, membership, order_id: int):
    order = selectors.order_get(membership=membership, order_id=order_id)
    standing = order_queue_standing(order=order)
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "order": order,
        "standing": standing,
        "order_json": _order_json(order, membership.workspace, standing=standing),
        "quota": selectors.quota_status(workspace=membership.workspace),
        "poll_ms": ORDER_POLL_MS,
        "retention_days": entitlements(membership.workspace).retention_days,
        "redo_gallery_id": selectors.redo_gallery_id(order=order),
        # Only the person whose selfie it is orders again from it (the services refuse
        # anyone else), so a team owner looking at a member's order is not offered it.
        # An order's selfie is always its placer's, so the photo need not be read.
        "can_order_again": order.photo_id is not None and order.placed_by_id == request.user.pk,
    }
    return render(request, "generation/order_detail.html", context)


@workspace_view("GET")
def order_status(request, membership, order_id: int):
    found = selectors.order_status_get(membership=membership, order_id=order_id)
    response = JsonResponse(
        _order_json(
            found.order,
            membership.workspace,
            styles=found.styles,
            headshots=found.headshots,
            replacements=found.replacements,
            standing=order_queue_standing(order=found.order),
        )
    )
    response["Cache-Control"] = "no-store"
    return response


@workspace_view("POST")
def order_cancel(request, membership, order_id: int):
    order = selectors.order_get(membership=membership, order_id=order_id)
    page = reverse("order_detail", args=[membership.workspace.slug, order.pk])
    try:
        services.order_cancel(order=order)
    except ValidationError as error:
        return _failed(request, error, back=page)
    if _wants_json(request):
        order = selectors.order_get(membership=membership, order_id=order_id)
        return JsonResponse(_order_json(order, membership.workspace))
    messages.success(request, "Order canceled; its headshots are back in your monthly quota.")
    return redirect(page)


def _placed_again(request, membership, place, *, back: str, stay: tuple[str, str] | None = None):
    """Run a service that places a new order from an existing one, and answer like
    order_create does: the new order's JSON, or the error where it came from. A form
    post goes to the new order's page, or to `stay` = (URL, message) when that page
    follows the new order itself."""
    workspace = membership.workspace
    if limited := _throttled(request, "order"):
        return limited
    try:
        order = place()
    except (ValidationError, PaymentRequired) as error:
        return _failed(request, error, back=back)
    if _wants_json(request):
        order = selectors.order_get(membership=membership, order_id=order.pk)
        return JsonResponse(_order_json(order, workspace), status=201)
    if stay is not None:
        url, message = stay
        messages.success(request, message)
        return redirect(url)
    return redirect("order_detail", workspace_slug=workspace.slug, order_id=order.pk)


@workspace_view("POST")
def order_more(request, membership, order_id: int):
    order = selectors.order_get(membership=membership, order_id=order_id)
    return _placed_again(
        request,
        membership,
        lambda: services.order_more_like_this(order=order, user=request.user),
        back=reverse("order_detail", args=[membership.workspace.slug, order.pk]),
    )


@workspace_view("POST")
def headshot_redo(request, membership, headshot_id: int):
    headshot = selectors.headshot_get(membership=membership, headshot_id=headshot_id)
    # The gallery the headshot is in, where its card follows the redo until the new one
    # takes its place.
    gallery = reverse(
        "order_detail", args=[membership.workspace.slug, headshot.shown_in_id or headshot.order_id]
    )
    return _placed_again(
        request,
        membership,
        lambda: services.headshot_redo(headshot=headshot, user=request.user),
        back=gallery,
        stay=(gallery, "Redoing it: the new one takes its place here when it is ready."),
    )


@workspace_view("GET")
def order_download(request, membership, order_id: int):
    order = selectors.order_get(membership=membership, order_id=order_id)
    if not order.headshots.all():
        messages.error(request, "This order has no headshots to download yet.")
        return redirect("order_detail", workspace_slug=membership.workspace.slug, order_id=order.pk)
    return file_response(
        selectors.order_zip(order=order),
        content_type="application/zip",
        filename=f"headshots-order-{order.pk}.zip",
        download=True,
    )


@workspace_view("GET")
def headshot_image(request, membership, headshot_id: int):
    headshot = selectors.headshot_get(membership=membership, headshot_id=headshot_id)
    try:
        return headshot_response(
            headshot,
            crop_slug=request.GET.get("crop"),
            download=request.GET.get("download") in {"1", "true"},
        )
    except ValidationError as error:
        return _error_response(error)


@workspace_view("GET")
def headshot_thumbnail(request, membership, headshot_id: int):
    headshot = selectors.headshot_get(membership=membership, headshot_id=headshot_id)
    return file_response(
        open_headshot(headshot, thumbnail=True),
        content_type="image/jpeg",
        filename=f"thumbnail-{headshot.pk}.jpg",
        download=False,
    )
