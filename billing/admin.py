from django.contrib import admin, messages

from accounts.admin import ReadOnlyAdmin

from .models import BillingAccount, StripeEvent, Subscription
from .stripe_api import billing_configuration_problems


class ConfigurationWarnings:
    """Staff see what stops customers from paying; customers only read that upgrades
    are not available yet."""

    def changelist_view(self, request, extra_context=None):
        for problem in billing_configuration_problems():
            messages.warning(request, f"Billing: {problem}")
        return super().changelist_view(request, extra_context)


@admin.register(BillingAccount)
class BillingAccountAdmin(ConfigurationWarnings, admin.ModelAdmin):
    list_display = ["workspace", "stripe_customer_id", "created_at"]
    search_fields = ["workspace__name", "workspace__slug", "stripe_customer_id"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["workspace"]


@admin.register(Subscription)
class SubscriptionAdmin(ConfigurationWarnings, admin.ModelAdmin):
    list_display = [
        "stripe_subscription_id",
        "workspace",
        "plan",
        "status",
        "quantity",
        "current_period_end",
        "cancel_at_period_end",
        "past_due_since",
        "updated_at",
    ]
    list_filter = ["plan", "status", "cancel_at_period_end"]
    search_fields = [
        "workspace__name",
        "workspace__slug",
        "stripe_customer_id",
        "stripe_subscription_id",
    ]
    list_select_related = ["workspace"]
    # Webhooks own this state; an edit here would be overwritten by the next event.
    readonly_fields = [field.name for field in Subscription._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(StripeEvent)
class StripeEventAdmin(ConfigurationWarnings, ReadOnlyAdmin):
    list_display = ["event_id", "type", "outcome", "workspace", "stripe_customer_id", "created"]
    list_filter = ["type", "outcome", "livemode"]
    search_fields = [
        "event_id",
        "workspace__name",
        "workspace__slug",
        "stripe_customer_id",
        "stripe_object_id",
    ]
    list_select_related = ["workspace"]
    date_hierarchy = "created"
