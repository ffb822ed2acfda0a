"""REST API v1 for photos, orders, downloads and the style catalog (DESIGN.md contract).

Thin: access checks come from accounts.access and generation.selectors, every change
from generation.services; errors reach clients through core.api_errors.
"""

import io

from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiRequest,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import generics, serializers, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from accounts.access import access_membership_by_id
from core.api_errors import Conflict, answering
from core.openapi import error_response

from . import framing, selectors, services
from .queue_selectors import order_queue_standing
from .serializers import (
    OrderCreateSerializer,
    OrderSerializer,
    PhotoSerializer,
    PhotoUploadSerializer,
    StyleSerializer,
    WorkspaceStyleSerializer,
    order_payload,
)

UPLOAD_CONTENT_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic", "image/heif")
IMAGE_ERRORS = error_response(
    "image_required",
    "file_too_large",
    "too_many_pixels",
    "too_small",
    "not_an_image",
    "unsupported_format",
    "truncated_image",
)


def file_response(file, *, content_type: str, filename: str, download: bool) -> FileResponse:
    response = FileResponse(
        file, content_type=content_type, as_attachment=download, filename=filename
    )
    # Private images: a shared cache must never keep one.
    response["Cache-Control"] = "private, max-age=3600"
    return response


def open_headshot(headshot, *, thumbnail: bool = False):
    field = headshot.thumbnail if thumbnail else headshot.file
    try:
        return field.open("rb")
    except FileNotFoundError:
        raise Http404("This headshot is no longer stored.") from None


def _query_flag(request, name: str) -> bool:
    """A boolean query parameter: absent is false, anything but a boolean is a 400."""
    if name not in request.query_params:
        return False
    try:
        return serializers.BooleanField().run_validation(request.query_params[name])
    except serializers.ValidationError as error:
        raise serializers.ValidationError({name: error.detail}) from None


def headshot_response(headshot, *, crop_slug: str | None, download: bool):
    """The full image, or one of its face-centred crops (`profile` 1:1, `website` 4:5)."""
    if not crop_slug:
        return file_response(
            open_headshot(headshot),
            content_type=headshot.content_type,
            filename=selectors.headshot_filename(headshot),
            download=download,
        )
    crop = framing.CROPS.get(crop_slug)
    if crop is None:
        raise ValidationError(
            f"Unknown crop “{crop_slug}”; use one of: {', '.join(framing.CROPS)}.",
            code="invalid_crop",
        )
    try:
        cropped = selectors.headshot_crop(headshot, crop)
    except FileNotFoundError:
        raise Http404("This headshot is no longer stored.") from None
    return file_response(
        io.BytesIO(cropped),
        content_type="image/jpeg",
        filename=selectors.headshot_filename(headshot, crop=crop),
        download=download,
    )


class WorkspaceAPIView(APIView):
    """Resolves the workspace from `wid` before any method is dispatched, so an outsider
    gets 404 for every path and method, exactly as for a workspace that does not exist.
    POSTs are throttled with `throttle_scope`, when the view sets one."""

    throttle_scope: str | None = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.membership = access_membership_by_id(request.user, kwargs["wid"])
        self.workspace = self.membership.workspace

    def get_throttles(self):
        if self.throttle_scope and self.request.method == "POST":
            return [ScopedRateThrottle()]
        return []

    def headshot_url(self, headshot) -> str:
        return self.request.build_absolute_uri(
            reverse(
                "api_headshot_image",
                kwargs={"wid": headshot.workspace_id, "headshot_id": headshot.pk},
            )
        )

    def order_data(self, order, *, queue_standing=None) -> dict:
        return order_payload(order, headshot_url=self.headshot_url, queue_standing=queue_standing)

    def placed_answer(self, placed) -> Response:
        """201 with a just-placed order, read back through the membership, and where it
        stands in the queue."""
        order = selectors.order_get(membership=self.membership, order_id=placed.pk)
        return Response(
            self.order_data(order, queue_standing=order_queue_standing(order=order)),
            status=status.HTTP_201_CREATED,
        )


class FileNegotiation(BaseContentNegotiation):
    """File views answer with the file whatever the Accept header says (an <img> asks
    for image/avif, a download for application/zip); errors still render as JSON."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class StyleListView(APIView):
    @extend_schema(responses=StyleSerializer(many=True))
    def get(self, request):
        styles = selectors.styles_active()
        return Response(StyleSerializer(styles, many=True, context={"request": request}).data)


class WorkspaceStyleListView(WorkspaceAPIView):
    @extend_schema(
        responses=WorkspaceStyleSerializer(many=True),
        description="The catalog as this workspace sees it: what its plan and its admins allow.",
    )
    def get(self, request, wid: int):
        choices = selectors.styles_for_workspace(workspace=self.workspace)
        serializer = WorkspaceStyleSerializer(choices, many=True, context={"request": request})
        return Response(serializer.data)


class PhotoListView(WorkspaceAPIView):
    parser_classes = [MultiPartParser]
    throttle_scope = "upload"

    @extend_schema(responses=PhotoSerializer(many=True), description="Your selfies not yet purged.")
    def get(self, request, wid: int):
        photos = selectors.photos_for_user(workspace=self.workspace, user=request.user)
        return Response(PhotoSerializer(photos, many=True).data)

    @extend_schema(
        request=OpenApiRequest(
            PhotoUploadSerializer,
            encoding={"image": {"contentType": ", ".join(UPLOAD_CONTENT_TYPES)}},
        ),
        responses={201: PhotoSerializer, 400: IMAGE_ERRORS},
        description="Upload a selfie. It is cleaned of metadata, encrypted, and deleted "
        "24 hours later (purge_at).",
    )
    def post(self, request, wid: int):
        upload = request.FILES.get("image")
        if upload is None:
            raise ValidationError(
                "Attach the photo as the multipart field `image`.", code="image_required"
            )
        photo = services.photo_upload(workspace=self.workspace, user=request.user, upload=upload)
        return Response(PhotoSerializer(photo).data, status=status.HTTP_201_CREATED)


class PhotoDetailView(WorkspaceAPIView):
    @extend_schema(responses=PhotoSerializer)
    def get(self, request, wid: int, photo_id: int):
        photo = selectors.photo_get(workspace=self.workspace, user=request.user, photo_id=photo_id)
        return Response(PhotoSerializer(photo).data)

    @extend_schema(
        responses={
            204: OpenApiResponse(description="Deleted."),
            202: inline_serializer(
                "PhotoDeletePending",
                {"status": serializers.CharField(), "message": serializers.CharField()},
            ),
        },
        description="Delete the selfie now. 202 when storage could not be reached: the "
        "photo is hidden and the hourly purge finishes deleting it.",
    )
    def delete(self, request, wid: int, photo_id: int):
        photo = selectors.photo_get(workspace=self.workspace, user=request.user, photo_id=photo_id)
        if services.photo_delete(photo=photo):
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(
            {
                "status": "pending",
                "message": "The photo is hidden and will be deleted within the hour.",
            },
            status=status.HTTP_202_ACCEPTED,
        )


class OrderListView(WorkspaceAPIView, generics.GenericAPIView):
    throttle_scope = "order"
    serializer_class = OrderSerializer

    def get_queryset(self):
        return selectors.orders_with_results(
            selectors.orders_visible(membership=self.membership), workspace=self.workspace
        )

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "headshot_url": self.headshot_url}

    @extend_schema(responses=OrderSerializer(many=True))
    def get(self, request, wid: int):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([self.order_data(order) for order in page])

    @extend_schema(
        request=OrderCreateSerializer,
        responses={
            201: OrderSerializer,
            400: error_response(
                "unknown_style",
                "styles_required",
                "style_not_allowed",
                "photo_not_checked",
                "photo_rejected",
            ),
            402: error_response("quota_exceeded", "upgrade_required"),
            404: error_response("photo_not_found"),
            409: error_response("photo_expired"),
        },
        description="Place an order: one selfie, one or more styles, `per_style` headshots "
        "of each. 402 with code `quota_exceeded` or `upgrade_required` when the plan does "
        "not cover it; 404 `photo_not_found` when the selfie is not one of yours (or is "
        "purged), 409 `photo_expired` when it is past its purge time.",
    )
    def post(self, request, wid: int):
        data = OrderCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        with answering(not_found=("photo_not_found",), conflict=("photo_expired",)):
            photo = selectors.photo_for_order(
                workspace=self.workspace, user=request.user, photo_id=data.validated_data["photo"]
            )
            order = services.order_create(
                workspace=self.workspace,
                user=request.user,
                photo=photo,
                style_slugs=data.validated_data["styles"],
                per_style=data.validated_data["per_style"],
            )
        return self.placed_answer(order)


class OrderDetailView(WorkspaceAPIView):
    @extend_schema(responses=OrderSerializer)
    def get(self, request, wid: int, order_id: int):
        found = selectors.order_status_get(membership=self.membership, order_id=order_id)
        return Response(
            order_payload(
                found.order,
                headshot_url=self.headshot_url,
                styles=found.styles,
                headshots=found.headshots,
                queue_standing=order_queue_standing(order=found.order),
            )
        )


class OrderCancelView(WorkspaceAPIView):
    @extend_schema(
        request=None,
        responses={200: OrderSerializer, 409: error_response("not_cancelable")},
        description="Cancel a queued order; its headshots go back to the monthly quota. "
        "409 `not_cancelable` once the order has started or finished.",
    )
    def post(self, request, wid: int, order_id: int):
        order = selectors.order_get(membership=self.membership, order_id=order_id)
        with answering(conflict=("not_cancelable",)):
            services.order_cancel(order=order)
        order = selectors.order_get(membership=self.membership, order_id=order_id)
        return Response(self.order_data(order))


# "More like this" and "Redo this one" place an order from an order's own selfie and
# styles: they can be refused for the same reasons.
REORDER_RESPONSES = {
    201: OrderSerializer,
    400: error_response("style_not_allowed", "photo_not_checked", "photo_rejected"),
    402: error_response("quota_exceeded", "upgrade_required"),
    409: error_response("photo_expired", "not_your_selfie"),
}


class OrderMoreView(WorkspaceAPIView):
    throttle_scope = "order"

    @extend_schema(
        request=None,
        responses=REORDER_RESPONSES,
        description="“More like this”: a new order with the same styles and count from the "
        "same selfie, with new seeds. Uses as many headshots of the monthly quota as the "
        "order has (`total`); 402 `quota_exceeded` when they are not left; 409 "
        "`photo_expired` once the selfie was deleted, `not_your_selfie` for someone "
        "else's order (only the person whose selfie it is orders again from it).",
    )
    def post(self, request, wid: int, order_id: int):
        order = selectors.order_get(membership=self.membership, order_id=order_id)
        with answering(conflict=("photo_expired", "not_your_selfie")):
            placed = services.order_more_like_this(order=order, user=request.user)
        return self.placed_answer(placed)


class HeadshotRedoView(WorkspaceAPIView):
    throttle_scope = "order"

    @extend_schema(
        request=None,
        responses={
            **REORDER_RESPONSES,
            409: error_response(
                "photo_expired", "not_your_selfie", "headshot_replaced", "redo_in_progress"
            ),
        },
        description="“Redo this one”: a one-headshot order (`redo_of` this headshot) of the "
        "same style from the same selfie. Once made, its headshot takes this one's place "
        "in the gallery and the zip of the order that showed it; this one says so in "
        "`replaced_by` and stays downloadable. Uses one headshot of the monthly quota. "
        "409 `headshot_replaced` for a headshot already redone (redo its replacement), "
        "`redo_in_progress` while a redo of it is queued or running.",
    )
    def post(self, request, wid: int, headshot_id: int):
        headshot = selectors.headshot_get(membership=self.membership, headshot_id=headshot_id)
        with answering(
            conflict=("photo_expired", "not_your_selfie", "headshot_replaced", "redo_in_progress")
        ):
            placed = services.headshot_redo(headshot=headshot, user=request.user)
        return self.placed_answer(placed)


class OrderDownloadView(WorkspaceAPIView):
    content_negotiation_class = FileNegotiation

    @extend_schema(
        responses={
            (200, "application/zip"): OpenApiTypes.BINARY,
            409: error_response("no_headshots"),
        },
        description="A zip of the order's headshots; 409 `no_headshots` before the first one.",
    )
    def get(self, request, wid: int, order_id: int):
        order = selectors.order_get(membership=self.membership, order_id=order_id)
        if not order.headshots.exists():
            raise Conflict("This order has no headshots to download.", code="no_headshots")
        return file_response(
            selectors.order_zip(order=order),
            content_type="application/zip",
            filename=f"headshots-order-{order.pk}.zip",
            download=True,
        )


class HeadshotImageView(WorkspaceAPIView):
    content_negotiation_class = FileNegotiation

    @extend_schema(
        parameters=[
            OpenApiParameter("download", OpenApiTypes.BOOL, description="Serve as an attachment."),
            OpenApiParameter(
                "crop",
                OpenApiTypes.STR,
                enum=list(framing.CROPS),
                description="A face-centred crop instead of the full square: `profile` (1:1, "
                "for profile pictures) or `website` (4:5). JPEG.",
            ),
        ],
        responses={(200, "image/*"): OpenApiTypes.BINARY, 400: error_response("invalid_crop")},
        description="The full-size headshot image, or one of its face-centred crops.",
    )
    def get(self, request, wid: int, headshot_id: int):
        headshot = selectors.headshot_get(membership=self.membership, headshot_id=headshot_id)
        return headshot_response(
            headshot,
            crop_slug=request.query_params.get("crop"),
            download=_query_flag(request, "download"),
        )
