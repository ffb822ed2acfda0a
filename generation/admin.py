"""The staff admin for generation, and the operations pages.

Staff edit the style catalog. Photos, orders, headshots and quota are read-only here:
the few changes staff make to an order (retry, cancel, give back quota) are admin
actions that go through generation.services, and each writes an audit entry
(LogEntry: who, what, when), as the admin's own add/change/delete do. Nobody on staff
sees a selfie: its page shows metadata and purge state only.

Workspaces get their plan, this month's usage and their Stripe customer here rather
than in accounts/admin.py, because accounts imports nothing of generation or billing.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db.models import OuterRef, Subquery
from django.http import FileResponse, Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince
from PIL import Image

from accounts.admin import ReadOnlyAdmin, WorkspaceAdmin
from accounts.models import Workspace
from billing.plans import PLANS, entitlements, subscription_current

from . import operations, queue_selectors, selectors, services
from .models import (
    FreeAllowanceUsage,
    Headshot,
    Order,
    PurgeRun,
    QuotaUsage,
    SourcePhoto,
    Style,
    WorkerStatus,
)
from .samples import sample_url

OPERATE_ORDER_PERMISSION = "generation.operate_order"
# The intermediate "give back quota" form lists every order it applies to; a goodwill
# credit is a decision about a few orders, not a bulk operation.
MAX_CREDIT_ORDERS = 50


@admin.register(Style)
class StyleAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "tier", "is_active", "position", "has_sample"]
    list_editable = ["tier", "is_active", "position"]
    list_filter = ["tier", "is_active"]
    search_fields = ["name", "slug", "description", "prompt"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["sample_preview"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "description", "tier", "is_active", "position"]}),
        ("Generator prompts", {"fields": ["prompt", "negative_prompt"]}),
        (
            "Sample picture",
            {
                "fields": ["sample_preview", "sample"],
                "description": "Shown in the studio's picker, on the pricing page and in the "
                "landing page's gallery. `manage.py render_style_samples` renders one; an "
                "upload here replaces it (squared from the centre, 512 px).",
            },
        ),
    ]

    @admin.display(boolean=True, description="sample")
    def has_sample(self, style) -> bool:
        return bool(style.sample)

    @admin.display(description="current picture")
    def sample_preview(self, style) -> str:
        if not style.pk:
            return "—"
        return format_html('<img src="{}" alt="" width="160" height="160">', sample_url(style))

    def save_model(self, request, obj, form, change):
        upload = form.cleaned_data.get("sample") if "sample" in form.changed_data else None
        if upload:
            # The upload goes through the service (squared, sized, the old file deleted),
            # not straight into storage as the form would put it.
            obj.sample = form.initial.get("sample") or ""
        super().save_model(request, obj, form, change)
        if upload:
            upload.seek(0)
            with Image.open(upload) as image:
                services.style_set_sample(style=obj, image=image)


def _admin_link(obj, label=None) -> str:
    if obj is None:
        return "—"
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, label or obj)


# --- Selfies: metadata and purge state, never the image -------------------------------


class PurgeStateFilter(admin.SimpleListFilter):
    title = "purge state"
    parameter_name = "purge"

    def lookups(self, request, model_admin):
        return [
            ("scheduled", "Scheduled"),
            ("overdue", "Past its purge time"),
            ("failing", "Storage delete failed"),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "scheduled":
            return queryset.filter(purge_at__gt=now)
        if self.value() == "overdue":
            return queryset.filter(purge_at__lte=now)
        if self.value() == "failing":
            return queryset.filter(purge_attempts__gt=0)
        return queryset


def _purge_state(photo: SourcePhoto) -> str:
    now = timezone.now()
    if photo.purge_attempts:
        return f"storage delete failed {photo.purge_attempts}×, retried every run"
    if photo.purge_at <= now:
        return f"overdue by {timesince(photo.purge_at, now)}"
    return f"purged in {timesince(now, photo.purge_at)}"


@admin.register(SourcePhoto)
class SourcePhotoAdmin(ReadOnlyAdmin):
    """No image, no link to it, no storage name, no face data: only what staff need
    to answer "is this selfie gone yet, and if not, why"."""

    list_display = [
        "pk",
        "workspace",
        "uploaded_by",
        "dimensions",
        "size_bytes",
        "created_at",
        "purge_at",
        "purge_state",
    ]
    list_filter = [PurgeStateFilter, "created_at"]
    list_select_related = ["workspace", "uploaded_by"]
    search_fields = ["id__exact", "workspace__slug", "workspace__name", "uploaded_by__email"]
    date_hierarchy = "created_at"
    fields = [
        "workspace",
        "uploaded_by",
        "dimensions",
        "size_bytes",
        "created_at",
        "purge_at",
        "purge_state",
        "purge_attempts",
        "last_purge_error",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        # The encrypted face data is never even read into the admin.
        return super().get_queryset(request).defer("face_data")

    @admin.display(description="Size (px)")
    def dimensions(self, photo: SourcePhoto) -> str:
        return f"{photo.width}×{photo.height}"

    @admin.display(description="Purge state", ordering="purge_at")
    def purge_state(self, photo: SourcePhoto) -> str:
        return _purge_state(photo)


# --- Orders ---------------------------------------------------------------------------


def _tiers_by_resolution() -> dict[int, str]:
    """An order keeps no plan, but its resolution was fixed by its plan's tier when it
    was placed: 1024 px is Free, 4096 px Premium or Team."""
    names: dict[int, list[str]] = {}
    for plan in PLANS.values():
        names.setdefault(plan.base.resolution, []).append(plan.name)
    return {resolution: " / ".join(plans) for resolution, plans in sorted(names.items())}


TIERS_BY_RESOLUTION = _tiers_by_resolution()


class TierFilter(admin.SimpleListFilter):
    title = "tier"
    parameter_name = "tier"

    def lookups(self, request, model_admin):
        return [
            (str(resolution), f"{name} ({resolution} px)")
            for resolution, name in TIERS_BY_RESOLUTION.items()
        ]

    def queryset(self, request, queryset):
        value = self.value()
        # Anything but a number (a hand-edited URL) filters nothing rather than failing.
        if value and value.isdigit():
            return queryset.filter(resolution=int(value))
        return queryset


class HeadshotInline(admin.TabularInline):
    model = Headshot
    fk_name = "order"
    extra = 0
    fields = ["preview", "style", "index", "seed", "width", "height", "likeness", "created_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("style")

    @admin.display(description="Thumbnail")
    def preview(self, headshot: Headshot) -> str:
        if not headshot.thumbnail:
            return "—"
        url = reverse("admin:generation_order_thumbnail", args=[headshot.order_id, headshot.pk])
        return format_html(
            '<img src="{}" alt="Headshot {}" width="96" height="96" loading="lazy" '
            'style="object-fit: cover">',
            url,
            headshot.pk,
        )


class QuotaCreditForm(forms.Form):
    count = forms.IntegerField(
        min_value=1,
        max_value=10_000,
        label="Headshots to give back per order",
        help_text="Delivered headshots; they come off the workspace's usage this month.",
    )
    reason = forms.CharField(
        max_length=200, label="Reason", help_text="Goes into the audit log with your name."
    )


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = [
        "pk",
        "workspace",
        "placed_by",
        "status",
        "tier",
        "progress",
        "attempts",
        "error_code",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", TierFilter, "created_at", "error_code"]
    list_select_related = ["workspace", "placed_by"]
    search_fields = ["id__exact", "placed_by__email", "workspace__slug", "workspace__name"]
    date_hierarchy = "created_at"
    actions = ["retry_orders", "cancel_orders", "credit_quota"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "workspace",
                    "placed_by",
                    "photo_link",
                    "style_names",
                    "per_style",
                    "status",
                    "stage",
                    "error_code",
                    "error_message",
                ]
            },
        ),
        (
            "Quota",
            {"fields": ["total", "done", "quota_period", "quota_refunded", "quota_credited"]},
        ),
        ("GPU", {"fields": ["resolution", "queue_name", "worker_id", "heartbeat_at", "attempts"]}),
        ("Times", {"fields": ["created_at", "enqueued_at", "started_at", "finished_at"]}),
    ]
    readonly_fields = ["photo_link", "style_names"]
    inlines = [HeadshotInline]

    def has_operate_permission(self, request) -> bool:
        return request.user.has_perm(OPERATE_ORDER_PERMISSION)

    def get_urls(self):
        thumbnail = self.admin_site.admin_view(self.thumbnail_view)
        return [
            path(
                "<int:order_id>/headshots/<int:headshot_id>/thumbnail/",
                thumbnail,
                name="generation_order_thumbnail",
            ),
            *super().get_urls(),
        ]

    def thumbnail_view(self, request, order_id: int, headshot_id: int):
        """A headshot's thumbnail, streamed from private storage to staff who may see
        the order (admin_view has already checked staff and the second factor)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        headshot = Headshot.all_workspaces_unscoped.filter(pk=headshot_id, order_id=order_id)
        headshot = headshot.first()
        if headshot is None or not headshot.thumbnail:
            raise Http404("No such headshot.")
        try:
            handle = headshot.thumbnail.open("rb")
        except FileNotFoundError:
            raise Http404("The thumbnail has been purged.") from None
        response = FileResponse(handle, content_type="image/jpeg")
        response["Cache-Control"] = "private, max-age=300"
        response["X-Content-Type-Options"] = "nosniff"
        return response

    @admin.display(description="Tier", ordering="resolution")
    def tier(self, order: Order) -> str:
        return TIERS_BY_RESOLUTION.get(order.resolution, f"{order.resolution} px")

    @admin.display(description="Made")
    def progress(self, order: Order) -> str:
        return f"{order.done}/{order.total}"

    @admin.display(description="Selfie")
    def photo_link(self, order: Order) -> str:
        # A link by id: the selfie's row (and its face data) is never read for it.
        if order.photo_id is None:
            return "deleted"
        url = reverse("admin:generation_sourcephoto_change", args=[order.photo_id])
        return format_html('<a href="{}">Photo {} (metadata)</a>', url, order.photo_id)

    @admin.display(description="Styles")
    def style_names(self, order: Order) -> str:
        return ", ".join(style.name for style in order.styles.all()) or "—"

    def _each(self, request, queryset, *, apply, describe, verb: str) -> None:
        """Apply a service to each order; log each change, report each refusal."""
        changed = 0
        for order in queryset:
            try:
                updated = apply(order)
            except ValidationError as error:
                self.message_user(
                    request, f"Order {order.pk}: {' '.join(error.messages)}", messages.ERROR
                )
                continue
            self.log_change(request, updated, describe(updated))
            changed += 1
        if changed:
            self.message_user(
                request, f"{verb} {changed} order{'s' if changed != 1 else ''}.", messages.SUCCESS
            )

    @admin.action(description="Retry the selected failed orders", permissions=["operate"])
    def retry_orders(self, request, queryset):
        self._each(
            request,
            queryset,
            apply=lambda order: services.order_retry(order=order),
            describe=lambda order: (
                f"Retried: requeued on {order.queue_name} for {order.undelivered} undelivered "
                f"headshots, re-reserved from the {order.quota_period:%Y-%m} quota without a "
                "limit check."
            ),
            verb="Requeued",
        )

    @admin.action(description="Cancel the selected queued orders", permissions=["operate"])
    def cancel_orders(self, request, queryset):
        def cancel(order: Order) -> Order:
            if order.status == Order.Status.CANCELED:
                raise ValidationError("This order is already canceled.")
            return services.order_cancel(order=order)

        self._each(
            request,
            queryset,
            apply=cancel,
            describe=lambda order: (
                f"Canceled: {order.quota_refunded} reserved headshots given back to the quota."
            ),
            verb="Canceled",
        )

    @admin.action(description="Give back quota for delivered headshots…", permissions=["operate"])
    def credit_quota(self, request, queryset):
        """An intermediate page asks how many and why, then applies it to each order."""
        orders = list(queryset.select_related("workspace")[: MAX_CREDIT_ORDERS + 1])
        if len(orders) > MAX_CREDIT_ORDERS:
            self.message_user(
                request,
                f"Give back quota for at most {MAX_CREDIT_ORDERS} orders at a time.",
                messages.ERROR,
            )
            return None
        form = QuotaCreditForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            count, reason = form.cleaned_data["count"], form.cleaned_data["reason"]
            self._each(
                request,
                orders,
                apply=lambda order: services.order_refund_quota(order=order, count=count),
                describe=lambda order: (
                    f"Gave back {count} delivered headshots to this month's quota "
                    f"(goodwill, {order.quota_credited} in all): {reason}"
                ),
                verb="Gave back quota for",
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Give back quota",
            "opts": self.opts,
            "orders": orders,
            "form": form,
            "action": "credit_quota",
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/generation/order/credit_quota.html", context)


@admin.register(QuotaUsage)
class QuotaUsageAdmin(ReadOnlyAdmin):
    list_display = ["workspace", "period", "used"]
    list_filter = ["period"]
    list_select_related = ["workspace"]
    search_fields = ["workspace__slug", "workspace__name"]
    date_hierarchy = "period"


@admin.register(FreeAllowanceUsage)
class FreeAllowanceUsageAdmin(ReadOnlyAdmin):
    list_display = ["user", "period", "used"]
    list_filter = ["period"]
    list_select_related = ["user"]
    search_fields = ["user__email"]
    date_hierarchy = "period"


# --- Workspaces: accounts' admin, plus plan, usage and the Stripe customer ------------


admin.site.unregister(Workspace)


@admin.register(Workspace)
class WorkspaceOpsAdmin(WorkspaceAdmin):
    list_display = [*WorkspaceAdmin.list_display, "used_this_month", "stripe_customer"]
    list_select_related = ["billing_account"]
    readonly_fields = [
        *WorkspaceAdmin.readonly_fields,
        "plan",
        "quota_this_month",
        "stripe_customer",
    ]

    def get_queryset(self, request):
        # The plan needs the workspace's subscriptions, so the list shows usage (one
        # subquery) and the page of one workspace shows the plan and quota.
        usage = QuotaUsage.all_workspaces_unscoped.filter(
            workspace=OuterRef("pk"), period=selectors.quota_period()
        ).values("used")[:1]
        return super().get_queryset(request).annotate(_used_this_month=Subquery(usage))

    @admin.display(description="Used this month", ordering="_used_this_month")
    def used_this_month(self, workspace: Workspace) -> int:
        return getattr(workspace, "_used_this_month", None) or 0

    @admin.display(description="Plan")
    def plan(self, workspace: Workspace) -> str:
        if workspace.pk is None:
            return "—"
        subscription = subscription_current(workspace)
        if subscription is None:
            return "Free (no paid subscription)"
        return format_html(
            "{} ({}, {} seat{}) {}",
            PLANS[subscription.plan].name,
            subscription.get_status_display(),
            subscription.quantity,
            "s" if subscription.quantity != 1 else "",
            _admin_link(subscription, subscription.stripe_subscription_id),
        )

    @admin.display(description="Quota this month")
    def quota_this_month(self, workspace: Workspace) -> str:
        if workspace.pk is None:
            return "—"
        status = selectors.quota_status(workspace=workspace)
        if entitlements(workspace).quota_per_person:
            return (
                f"{status.used} ordered here; on the free plan each person has {status.quota} "
                f"a month across all their free workspaces; resets on "
                f"{status.resets_on:%Y-%m-%d}"
            )
        return (
            f"{status.used} of {status.quota} used, {status.remaining} left; "
            f"resets on {status.resets_on:%Y-%m-%d}"
        )

    @admin.display(description="Stripe customer")
    def stripe_customer(self, workspace: Workspace) -> str:
        try:
            account = workspace.billing_account
        except ObjectDoesNotExist:
            return "—"
        if not account.stripe_customer_id:
            return "—"
        return _admin_link(account, account.stripe_customer_id)


# --- Operations: worker health and the purge log --------------------------------------


@admin.register(WorkerStatus)
class WorkerHealthAdmin(ReadOnlyAdmin):
    """Each GPU worker's last word, under a summary of the queues and the throughput."""

    change_list_template = "admin/generation/workerstatus/change_list.html"
    list_display = [
        "worker_id",
        "state",
        "heartbeat_age",
        "device",
        "model_set",
        "current_order_link",
        "hostname",
        "pid",
        "started_at",
    ]
    list_filter = ["device", "model_set"]
    list_select_related = ["current_order"]
    search_fields = ["worker_id", "hostname", "device"]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "health": operations.worker_health(),
            "generators_running": queue_selectors.generators_running(),
            "queue": queue_selectors.queued_orders_standing(),
        }
        return super().changelist_view(request, extra_context=extra_context)

    @admin.display(description="State")
    def state(self, worker: WorkerStatus) -> str:
        if worker.stopped_at is not None:
            return "stopped"
        if operations.worker_is_silent(worker, now=timezone.now()):
            return "silent"
        return "busy" if worker.current_order_id else "idle"

    @admin.display(description="Last heartbeat", ordering="heartbeat_at")
    def heartbeat_age(self, worker: WorkerStatus) -> str:
        return f"{timesince(worker.heartbeat_at)} ago"

    @admin.display(description="Current order")
    def current_order_link(self, worker: WorkerStatus) -> str:
        return _admin_link(worker.current_order)


class PurgeOutcomeFilter(admin.SimpleListFilter):
    title = "outcome"
    parameter_name = "outcome"

    def lookups(self, request, model_admin):
        return [
            ("clean", "Everything deleted"),
            ("failures", "Some deletes failed"),
            ("error", "Stopped early"),
            ("unfinished", "Unfinished"),
        ]

    def queryset(self, request, queryset):
        finished = queryset.filter(finished_at__isnull=False, error="")
        if self.value() == "clean":
            return finished.filter(photos_failed=0, headshots_failed=0)
        if self.value() == "failures":
            return finished.exclude(photos_failed=0, headshots_failed=0)
        if self.value() == "error":
            return queryset.exclude(error="")
        if self.value() == "unfinished":
            return queryset.filter(finished_at__isnull=True)
        return queryset


@admin.register(PurgeRun)
class PurgeRunAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at",
        "duration",
        "outcome",
        "photos_deleted",
        "photos_failed",
        "headshots_deleted",
        "headshots_failed",
    ]
    list_filter = [PurgeOutcomeFilter, "started_at"]
    date_hierarchy = "started_at"
    fields = [
        "started_at",
        "finished_at",
        "duration",
        "outcome",
        ("photos_matched", "photos_deleted", "photos_failed"),
        ("headshots_matched", "headshots_deleted", "headshots_failed"),
        "failure_list",
        "error",
    ]
    readonly_fields = ["duration", "outcome", "failure_list"]

    @admin.display(description="Took")
    def duration(self, run: PurgeRun) -> str:
        if run.finished_at is None:
            return "—"
        return f"{(run.finished_at - run.started_at).total_seconds():.1f} s"

    @admin.display(description="Outcome")
    def outcome(self, run: PurgeRun) -> str:
        if run.error:
            return "stopped early"
        if run.finished_at is None:
            return "unfinished"
        return f"{run.failed} failed" if run.failed else "clean"

    @admin.display(description="Failures")
    def failure_list(self, run: PurgeRun) -> str:
        if not run.failures:
            return "—"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{} {}: {}</li>",
                (
                    (item.get("kind", ""), item.get("id", ""), item.get("error", ""))
                    for item in run.failures
                ),
            ),
        )
