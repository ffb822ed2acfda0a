"""Output shapes shared by the REST API and the portal's JSON endpoints.

A headshot's `url` is built by a callable in the serializer context (`headshot_url`),
because the API and the portal each serve images through their own access-checked
view, never a public media URL.
"""

from django.db import DatabaseError
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import Headshot, Order, SourcePhoto, Style
from .queue_selectors import QueueStanding
from .samples import sample_url
from .services import MAX_PER_STYLE


@extend_schema_field(OpenApiTypes.URI)
class StyleSampleURLField(serializers.Field):
    """The style's sample picture as an absolute URL: public, like the portal's, and a
    drawn placeholder (SVG) until a sample is rendered or uploaded. Needs the request
    in the serializer context."""

    def __init__(self, **kwargs):
        kwargs.setdefault(
            "help_text",
            "Absolute URL of the style's sample picture (public, cacheable): a JPEG once "
            "rendered or uploaded, a drawn SVG placeholder until then.",
        )
        super().__init__(read_only=True, **kwargs)

    def to_representation(self, style: Style) -> str:
        return self.context["request"].build_absolute_uri(sample_url(style))


class StyleSerializer(serializers.ModelSerializer):
    sample_url = StyleSampleURLField(source="*")

    class Meta:
        model = Style
        fields = ["slug", "name", "description", "tier", "sample_url"]
        read_only_fields = fields


class WorkspaceStyleSerializer(serializers.Serializer):
    """A selectors.StyleChoice: a catalog style and whether this workspace may order it."""

    slug = serializers.CharField(source="style.slug")
    name = serializers.CharField(source="style.name")
    description = serializers.CharField(source="style.description")
    tier = serializers.CharField(source="style.tier")
    sample_url = StyleSampleURLField(source="style")
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
    replaced_by = serializers.PrimaryKeyRelatedField(
        read_only=True,
        allow_null=True,
        help_text="Id of the headshot that took this one's place (“Redo this one”): the "
        "redo order's headshot, which the order's gallery and zip now hold instead. This "
        "one stays downloadable. Null for a headshot never redone.",
    )

    class Meta:
        model = Headshot
        fields = [
            "id",
            "style",
            "index",
            "width",
            "height",
            "url",
            "likeness",
            "created_at",
            "replaced_by",
        ]
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


class QueueStandingSerializer(serializers.Serializer):
    generator_running = serializers.BooleanField(
        help_text="False while no GPU worker has sent a heartbeat recently: the order "
        "waits and starts when one runs."
    )
    position = serializers.IntegerField(help_text="1: the next order a worker takes.")
    orders_ahead = serializers.IntegerField()
    estimated_start = serializers.DateTimeField(
        allow_null=True,
        help_text="From the recent GPU time per image and the running workers; null "
        "with no worker running or before the first image was made.",
    )
    message = serializers.CharField(help_text="The same, in a sentence for people.")


class OrderSerializer(serializers.ModelSerializer):
    styles = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    progress = ProgressSerializer(source="*", read_only=True)
    error = serializers.SerializerMethodField()
    queue = serializers.SerializerMethodField()
    headshots = HeadshotSerializer(many=True, read_only=True)
    redo_of = serializers.PrimaryKeyRelatedField(
        read_only=True,
        allow_null=True,
        help_text="For a “Redo this one” order: the headshot it redoes. Its headshot takes "
        "that one's place once made (that one's `replaced_by`). Null for other orders.",
    )

    class Meta:
        model = Order
        fields = [
            "id",
            "status",
            "photo",
            "styles",
            "per_style",
            "resolution",
            "redo_of",
            "progress",
            "error",
            "queue",
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

    @extend_schema_field(
        QueueStandingSerializer(
            allow_null=True,
            help_text="Where a queued order stands, on the order's own endpoint; null "
            "once it runs, and in lists.",
        )
    )
    def get_queue(self, order) -> dict | None:
        return queue_standing_payload(self.context.get("queue_standing"))


class BoundedListField(serializers.ListField):
    """A ListField that refuses an overlong list before validating any item of it.

    DRF checks `max_length` only after running every child's validation, so a list of
    250,000 items would be validated item by item first."""

    def to_internal_value(self, data):
        if self.max_length is not None and isinstance(data, list | tuple):
            if len(data) > self.max_length:
                self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


class CatalogStyleField(serializers.SlugField):
    """A style's slug. The order service refuses one that is not in the active catalog
    (`unknown_style`); the schema lists the catalog as it stands."""


class CatalogStyleFieldSchema(OpenApiSerializerFieldExtension):
    target_class = CatalogStyleField

    def map_serializer_field(self, auto_schema, direction):
        try:
            slugs = sorted(Style.objects.filter(is_active=True).values_list("slug", flat=True))
        except DatabaseError:
            # `manage.py spectacular` may run where no database is set up: the schema is
            # then written without the catalog.
            slugs = []
        return {"type": "string", **({"enum": slugs} if slugs else {})}


class OrderCreateSerializer(serializers.Serializer):
    """The order input of both the API and the portal's studio."""

    photo = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, help_text="Id of an uploaded selfie."
    )
    styles = BoundedListField(
        child=CatalogStyleField(), min_length=1, max_length=50, help_text="Style slugs."
    )
    per_style = serializers.IntegerField(min_value=1, max_value=MAX_PER_STYLE, default=1)

    # The portal answers with one code per field rather than the API's `fields` map.
    PORTAL_ERRORS = {
        "photo": ("photo_required", "Upload or choose a selfie first."),
        "styles": ("invalid_styles", "Pick between 1 and 50 styles from the catalog."),
        "per_style": (
            "invalid_per_style",
            f"Order between 1 and {MAX_PER_STYLE} headshots per style.",
        ),
    }

    def portal_error(self) -> tuple[str, str]:
        """The (code, message) of the first invalid field, after is_valid() said no."""
        for field, (code, message) in self.PORTAL_ERRORS.items():
            if field in self.errors:
                return code, message
        return "parse_error", "Send a JSON object with photo, styles and per_style."


_DATETIME = serializers.DateTimeField()


def _datetime(value) -> str | None:
    return None if value is None else _DATETIME.to_representation(value)


def queue_standing_payload(standing: QueueStanding | None) -> dict | None:
    if standing is None:
        return None
    return {
        "generator_running": standing.generator_running,
        "position": standing.position,
        "orders_ahead": standing.orders_ahead,
        "estimated_start": _datetime(standing.estimated_start),
        "message": standing.message,
    }


def order_payload(
    order: Order, *, headshot_url, styles=None, headshots=None, queue_standing=None
) -> dict:
    """What OrderSerializer(order).data holds, built directly.

    The status poll is the busiest request there is (every open order page and API
    client asks every couple of seconds), and a ModelSerializer builds its fields
    anew for each instance: this does the same work in a fraction of the time.
    OrderSerializer stays the documented shape (the OpenAPI schema); a test holds the
    two equal. `styles` and `headshots` (with their style) default to the order's
    prefetched ones (selectors.order_status_get reads them itself). `queue_standing`
    (generation.queue_selectors) is given on an order's own endpoint only.
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
        "redo_of": order.redo_of_id,
        "progress": {"done": order.done, "total": order.total, "stage": order.stage},
        "error": error,
        "queue": queue_standing_payload(queue_standing),
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
                "replaced_by": headshot.replaced_by_id,
            }
            for headshot in headshots
        ],
        "created_at": _datetime(order.created_at),
        "started_at": _datetime(order.started_at),
        "finished_at": _datetime(order.finished_at),
    }
