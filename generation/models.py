from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from accounts.scoping import WorkspaceOwnedModel
from billing.plans import Tier


class ErrorCode:
    """Why an order failed. The worker passes one of these to order_mark_failed."""

    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    FACE_TOO_SMALL = "face_too_small"
    PHOTO_UNAVAILABLE = "photo_unavailable"
    WORKER_LOST = "worker_lost"
    GENERATION_FAILED = "generation_failed"


# What the person can do about each failure, shown next to the worker's message.
ERROR_HINTS = {
    ErrorCode.NO_FACE: "We could not find a face in your photo. Upload a well-lit selfie "
    "with your whole face visible, looking at the camera, and order again.",
    ErrorCode.MULTIPLE_FACES: "Your photo shows more than one face. Upload a selfie of just you "
    "and order again.",
    ErrorCode.FACE_TOO_SMALL: "Your face is too small in the photo. Take a closer selfie, with your "
    "face filling about a third of the picture, and order again.",
    ErrorCode.PHOTO_UNAVAILABLE: "Your selfie was deleted before we could use it. Upload it again "
    "and order again.",
    ErrorCode.WORKER_LOST: "Our generator stopped while working on your order. Nothing undelivered "
    "was charged to your quota; please order again.",
    ErrorCode.GENERATION_FAILED: "Something went wrong while generating. Nothing undelivered was "
    "charged to your quota; please order again.",
}


class Style(models.Model):
    """A headshot look from the catalog. Global (not workspace-owned); staff edit it."""

    TIER_CHOICES = [(Tier.FREE, "Free"), (Tier.PREMIUM, "Premium")]

    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=80)
    description = models.CharField(max_length=300)
    prompt = models.TextField(help_text="Positive prompt for the generator.")
    negative_prompt = models.TextField(blank=True)
    tier = models.CharField(max_length=16, choices=TIER_CHOICES, default=Tier.FREE)
    is_active = models.BooleanField(default=True, help_text="Inactive styles cannot be ordered.")
    position = models.PositiveSmallIntegerField(default=100, help_text="Lower comes first.")
    # Rendered by `manage.py render_style_samples` or uploaded by staff; until one
    # exists the portal draws a placeholder in the style's colours.
    sample = models.ImageField(
        upload_to="style-samples/",
        blank=True,
        help_text="A square example of this look (JPEG or PNG), shown in the picker and on "
        "the public pages. Upload one to replace the rendered sample.",
    )

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class WorkspaceAllowedStyle(WorkspaceOwnedModel):
    """One style a Team workspace's admins allow their members to order.

    A workspace with no rows is unrestricted (every style its plan allows). Written only
    by generation.services.workspace_styles_set.
    """

    # PROTECT: deleting a catalog style must not silently shrink an allowed set, which
    # could empty it and so lift the restriction. Staff retire styles with is_active.
    style = models.ForeignKey(Style, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "style"], name="workspace_allowed_style_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.workspace_id}: {self.style_id}"


class CheckStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be checked"
    OK = "ok", "Face found"
    REJECTED = "rejected", "No usable face"


# What the studio and the API say about a photo the face check turned down.
PHOTO_CHECK_MESSAGES = {
    ErrorCode.NO_FACE: "No usable face: try a photo where your face is clear and in front of "
    "the camera.",
    ErrorCode.FACE_TOO_SMALL: "No usable face: your face is too small in this photo. Try a closer "
    "one where your face is clear and in front of the camera.",
    ErrorCode.MULTIPLE_FACES: "No usable face: this photo shows more than one face. Try a photo "
    "of just you, with your face clear and in front of the camera.",
    ErrorCode.PHOTO_UNAVAILABLE: "This photo could not be read. Upload it again.",
}


class SourcePhoto(WorkspaceOwnedModel):
    """An uploaded selfie: cleaned, encrypted, kept for 24 hours at most.

    The stored object at `storage_name` is an AES-GCM blob (see generation.crypto) of a
    metadata-free JPEG; `face_data` is the worker's face analysis, encrypted the same way.
    """

    CheckStatus = CheckStatus

    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    storage_name = models.CharField(max_length=255, unique=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size_bytes = models.PositiveIntegerField(
        help_text="Size of the cleaned JPEG before encryption."
    )
    face_data = models.BinaryField(null=True, blank=True, editable=False)
    # The GPU worker's face check (generation.services.photo_check_*): a photo can be
    # ordered with only once it passed, so a faceless selfie never costs quota.
    check_status = models.CharField(
        max_length=16, choices=CheckStatus.choices, default=CheckStatus.PENDING
    )
    check_error_code = models.CharField(max_length=60, blank=True)
    # When the check's queue message last went out; None while it never did (the
    # broker was down at upload). photos_resend_unchecked sends it again.
    check_sent_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    purge_at = models.DateTimeField(db_index=True)
    # A failed storage delete leaves the row here, with why, for the next purge run.
    purge_attempts = models.PositiveIntegerField(default=0)
    last_purge_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Photo {self.pk} ({self.width}×{self.height})"

    @property
    def check_message(self) -> str:
        if self.check_status == CheckStatus.OK:
            return "Face found."
        if self.check_status == CheckStatus.REJECTED:
            return PHOTO_CHECK_MESSAGES.get(
                self.check_error_code, PHOTO_CHECK_MESSAGES[ErrorCode.NO_FACE]
            )
        return "Waiting to be checked for a face."


class QuotaUsage(WorkspaceOwnedModel):
    """Headshots reserved by a workspace in one calendar month (UTC).

    order_create locks this row with select_for_update, so parallel orders for the
    last units are serialised by the database. Every order counts here; on the free
    plan the limit is the person's FreeAllowanceUsage, and this row is the workspace's
    record of what was ordered in it.
    """

    period = models.DateField(help_text="First day of the month.")
    used = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "period"], name="quota_usage_one_per_month"
            )
        ]
        ordering = ["-period"]

    def __str__(self) -> str:
        return f"{self.workspace_id} {self.period:%Y-%m}: {self.used}"


class FreeAllowanceUsage(models.Model):
    """Headshots one person took from their free allowance in one calendar month (UTC).

    The free plan's quota belongs to the person, shared by every free workspace they
    order in, so a new workspace never brings new free headshots. Locked with
    select_for_update before the workspace's QuotaUsage row, always in that order.
    Not workspace-owned: it is the person's, whichever workspace the orders were in.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    period = models.DateField(help_text="First day of the month.")
    used = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "period"], name="free_allowance_one_per_month")
        ]
        ordering = ["-period"]

    def __str__(self) -> str:
        return f"{self.user_id} {self.period:%Y-%m}: {self.used}"


class Order(WorkspaceOwnedModel):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELED)

    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # The selfie is purged after 24 h; the order and its headshots outlive it.
    photo = models.ForeignKey(
        SourcePhoto, on_delete=models.SET_NULL, null=True, blank=True, related_name="orders"
    )
    styles = models.ManyToManyField(Style, related_name="+")
    # "Redo this one": the headshot this one-image order was placed to replace.
    redo_of = models.ForeignKey(
        "Headshot", on_delete=models.SET_NULL, null=True, blank=True, related_name="redos"
    )
    per_style = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    total = models.PositiveIntegerField()
    done = models.PositiveIntegerField(default=0)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    stage = models.CharField(max_length=120, blank=True, help_text="What the worker is doing now.")
    error_code = models.CharField(max_length=60, blank=True)
    error_message = models.TextField(blank=True)
    # Fixed from the workspace's entitlements when the order is placed.
    resolution = models.PositiveIntegerField()
    queue_name = models.CharField(max_length=60)
    quota_period = models.DateField()
    # The person whose free allowance this order drew on (the workspace was on the free
    # plan when it was placed); empty when the workspace's plan quota covered it.
    # Refunds, retries and credits go back to the same allowance.
    free_allowance_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    quota_refunded = models.PositiveIntegerField(default=0)
    # Delivered headshots staff gave back to the workspace's quota as a goodwill
    # credit; kept apart from quota_refunded, which is only ever the undelivered part.
    quota_credited = models.PositiveIntegerField(default=0)
    # The worker's claim on the order; a stale heartbeat means the worker is gone.
    worker_id = models.CharField(max_length=120, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["workspace", "-created_at"], name="order_ws_recent")]
        # The admin's order actions change a customer's order and quota: a staff member
        # needs this on top of seeing orders (superusers have it).
        permissions = [("operate_order", "Can retry, cancel and give back quota for orders")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(done__lte=models.F("total")), name="order_done_lte_total"
            ),
        ]

    def __str__(self) -> str:
        return f"Order {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def error_hint(self) -> str:
        return ERROR_HINTS.get(self.error_code, "")

    @property
    def undelivered(self) -> int:
        return self.total - self.done - self.quota_refunded


class Headshot(WorkspaceOwnedModel):
    """One generated image, in slot (style, index) of its order.

    The unique slot is what makes the worker's writes idempotent: a redelivered order
    can never end with more headshots than were ordered.
    """

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="headshots")
    style = models.ForeignKey(Style, on_delete=models.PROTECT, related_name="+")
    index = models.PositiveSmallIntegerField()
    seed = models.BigIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    file = models.FileField(max_length=255)
    thumbnail = models.FileField(max_length=255)
    content_type = models.CharField(max_length=40)
    likeness = models.FloatField(
        null=True, blank=True, help_text="Face similarity to the selfie, 0–1."
    )
    # GPU time spent on this image (its share of the batch, upscale included): the
    # worker-health page's time per image comes from here.
    generation_seconds = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Set when the person who ordered it picks it as theirs; a team's owners and
    # admins download every member's picks as one zip for the company's website.
    chosen_at = models.DateTimeField(null=True, blank=True)
    # "Redo this one": the redo's headshot that took this one's place in the gallery
    # (and the zip) that showed it. This one is kept, reachable from it as the
    # previous version.
    replaced_by = models.OneToOneField(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replaces"
    )
    # The order whose gallery shows this headshot in another's place: set on a redo's
    # headshot only (its own order still lists it too). Kept when that order goes: the
    # headshot's own order still holds it, and its files are deleted with that one.
    shown_in = models.ForeignKey(
        Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    purge_attempts = models.PositiveIntegerField(default=0)
    last_purge_error = models.TextField(blank=True)

    class Meta:
        ordering = ["order", "style__position", "style__name", "index"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "style", "index"], name="headshot_one_per_slot"
            )
        ]

    def __str__(self) -> str:
        return f"Headshot {self.pk} of order {self.order_id}"


class WorkerStatus(models.Model):
    """What each GPU worker process last said about itself (staff-side, not tenant data)."""

    worker_id = models.CharField(max_length=120, primary_key=True)
    hostname = models.CharField(max_length=120)
    pid = models.PositiveIntegerField()
    device = models.CharField(max_length=40)
    model_set = models.CharField(max_length=16)
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField(db_index=True)
    current_order = models.ForeignKey(
        Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-heartbeat_at"]
        verbose_name_plural = "worker statuses"

    def __str__(self) -> str:
        return self.worker_id


class PurgeRun(models.Model):
    """One run of the purge (manage.py purge_photos): what it deleted and what it could not.

    A run with no finished_at either is still going or was killed; one with `error`
    stopped early on that error (the counts are what it had done by then).
    """

    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    photos_matched = models.PositiveIntegerField(default=0)
    photos_deleted = models.PositiveIntegerField(default=0)
    photos_failed = models.PositiveIntegerField(default=0)
    headshots_matched = models.PositiveIntegerField(default=0)
    headshots_deleted = models.PositiveIntegerField(default=0)
    headshots_failed = models.PositiveIntegerField(default=0)
    # [{"kind": "photo" | "headshot", "id": pk, "error": "..."}], the first few only.
    failures = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True, help_text="What stopped the run early, if anything.")

    class Meta:
        ordering = ["-started_at", "-pk"]

    def __str__(self) -> str:
        return f"Purge run {self.pk} at {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def failed(self) -> int:
        return self.photos_failed + self.headshots_failed
