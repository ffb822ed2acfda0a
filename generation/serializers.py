"""Output shapes shared by the REST API and the portal's JSON endpoints.

A headshot's `url` is built by a callable in the serializer context (`headshot_url`),
because the API and the portal each serve images through their own access-checked
view, never a public media URL.
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import Headshot, Order, SourcePhoto, Style
from .services import MAX_PER_STYLE


class StyleSerializer(serializers.ModelSerializer):
    class Meta:
        model = Style
        fields = ["slug", "name", "description", "tier"]
        read_only_fields = fields


class WorkspaceStyleSerializer(serializers.Serializer):
    """A selectors.StyleChoice: a catalog style and whether this workspace may order it."""

    slug = serializers.CharField(source="style.slug")
    name = serializers.CharField(source="style.name")
    description = serializers.CharField(source="style.description")
    tier = serializers.CharField(source="style.tier")
    allowed = serializers.BooleanField(help_text="Members of this workspace can order it now.")
    in_plan = serializers.BooleanField(help_text="The workspace's plan includes its tier.")
    chosen_by_admin = serializers.BooleanField(
        help_text="False when the workspace's admins restrict styles and left this one out."
    )


class PhotoCheckSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        source="check_status",
        choices=SourcePhoto.CheckStatus.choices,
        help_text="`pending` until the GPU worker has looked for a face (seconds), then `ok` "
        "(the photo can be ordered with) or `rejected`.",
    )
    code = serializers.CharField(
        source="check_error_code",
        help_text="Why a rejected photo was turned down (`no_face`, `face_too_small`); "
        "empty otherwise.",
    )
    message = serializers.CharField(source="check_message")


class PhotoSerializer(serializers.ModelSerializer):
    check = PhotoCheckSerializer(source="*", read_only=True)

    class Meta:
        model = SourcePhoto
        fields = ["id", "width", "height", "check", "created_at", "purge_at"]
        read_only_fields = fields


class PhotoUploadSerializer(serializers.Serializer):
    image = serializers.FileField(
        help_text="JPEG, PNG, WebP or HEIC/HEIF; at most 20 MB and 40 megapixels, "
        "short side at least 512 px."
    )


class HeadshotSerializer(serializers.ModelSerializer):
    style = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Headshot
        fields = ["id", "style", "index", "width", "height", "url", "likeness", "created_at"]
        read_only_fields = fields

    def get_url(self, headshot) -> str:
        return self.context["headshot_url"](headshot)


class ProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    total = serializers.IntegerField()
    stage = serializers.CharField()


class OrderErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    hint = serializers.CharField(help_text="What the customer can do about it.")


class OrderSerializer(serializers.ModelSerializer):
    styles = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    progress = ProgressSerializer(source="*", read_only=True)
    error = serializers.SerializerMethodField()
    headshots = HeadshotSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = [
            "id",
            "status",
            "photo",
            "styles",
            "per_style",
            "resolution",
            "progress",
            "error",
            "headshots",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OrderErrorSerializer(allow_null=True))
    def get_error(self, order) -> dict | None:
        if not order.error_code:
            return None
        return {"code": order.error_code, "message": order.error_message, "hint": order.error_hint}


class OrderCreateSerializer(serializers.Serializer):
    photo = serializers.IntegerField(help_text="Id of an uploaded selfie.")
    styles = serializers.ListField(
        child=serializers.SlugField(), min_length=1, max_length=50, help_text="Style slugs."
    )
    per_style = serializers.IntegerField(min_value=1, max_value=MAX_PER_STYLE, default=1)


_DATETIME = serializers.DateTimeField()


def _datetime(value) -> str | None:
    return None if value is None else _DATETIME.to_representation(value)


def order_payload(order: Order, *, headshot_url, styles=None, headshots=None) -> dict:
    """What OrderSerializer(order).data holds, built directly.

    The status poll is the busiest request there is (every open order page and API
    client asks every couple of seconds), and a ModelSerializer builds its fields
    anew for each instance: this does the same work in a fraction of the time.
    OrderSerializer stays the documented shape (the OpenAPI schema); a test holds the
    two equal. `styles` and `headshots` (with their style) default to the order's
    prefetched ones (selectors.order_status_get reads them itself).
    """
    styles = order.styles.all() if styles is None else styles
    headshots = order.headshots.all() if headshots is None else headshots
    error = None
    if order.error_code:
        error = {"code": order.error_code, "message": order.error_message, "hint": order.error_hint}
    return {
        "id": order.pk,
        "status": order.status,
        "photo": order.photo_id,
        "styles": [style.slug for style in styles],
        "per_style": order.per_style,
        "resolution": order.resolution,
        "progress": {"done": order.done, "total": order.total, "stage": order.stage},
        "error": error,
        "headshots": [
            {
                "id": headshot.pk,
                "style": headshot.style.slug,
                "index": headshot.index,
                "width": headshot.width,
                "height": headshot.height,
                "url": headshot_url(headshot),
                "likeness": headshot.likeness,
                "created_at": _datetime(headshot.created_at),
            }
            for headshot in headshots
        ],
        "created_at": _datetime(order.created_at),
        "started_at": _datetime(order.started_at),
        "finished_at": _datetime(order.finished_at),
    }
