"""Staff edit the style catalog here. Photos, orders and headshots are shown read-only:
changes to them go through generation.services, and nobody on staff sees a selfie."""

from django.contrib import admin

from .models import Headshot, Order, QuotaUsage, SourcePhoto, Style


@admin.register(Style)
class StyleAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "tier", "is_active", "position"]
    list_editable = ["tier", "is_active", "position"]
    list_filter = ["tier", "is_active"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    fieldsets = [
        (None, {"fields": ["name", "slug", "description", "tier", "is_active", "position"]}),
        ("Generator prompts", {"fields": ["prompt", "negative_prompt"]}),
    ]


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SourcePhoto)
class SourcePhotoAdmin(ReadOnlyAdmin):
    list_display = [
        "pk",
        "workspace",
        "uploaded_by",
        "width",
        "height",
        "created_at",
        "purge_at",
        "purge_attempts",
    ]
    list_filter = ["created_at"]
    search_fields = ["workspace__slug", "uploaded_by__email"]
    exclude = ["face_data"]
    readonly_fields = ["last_purge_error"]


class HeadshotInline(admin.TabularInline):
    model = Headshot
    extra = 0
    fields = ["style", "index", "seed", "width", "height", "likeness", "created_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = [
        "pk",
        "workspace",
        "placed_by",
        "status",
        "done",
        "total",
        "resolution",
        "queue_name",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "queue_name", "created_at"]
    search_fields = ["workspace__slug", "placed_by__email", "error_code"]
    inlines = [HeadshotInline]


@admin.register(QuotaUsage)
class QuotaUsageAdmin(ReadOnlyAdmin):
    list_display = ["workspace", "period", "used"]
    list_filter = ["period"]
    search_fields = ["workspace__slug"]
