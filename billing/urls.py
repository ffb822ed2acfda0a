from django.urls import path

from . import views

# Mounted at /billing/.
urlpatterns = [
    path("pricing/", views.pricing, name="pricing"),
    path("stripe/webhook/", views.stripe_webhook, name="stripe_webhook"),
]

# Mounted at the root. The workspace keyword sits in each pattern itself, not in an
# include prefix, so URL-conf walks (the tenant-isolation test) see it.
# The page itself (`workspace_billing`) is generation's: it shows usage, which generation
# counts.
workspace_urlpatterns = [
    path(
        "w/<slug:workspace_slug>/billing/checkout/",
        views.workspace_billing_checkout,
        name="workspace_billing_checkout",
    ),
    path(
        "w/<slug:workspace_slug>/billing/portal/",
        views.workspace_billing_portal,
        name="workspace_billing_portal",
    ),
    path(
        "w/<slug:workspace_slug>/billing/resume/",
        views.workspace_billing_resume,
        name="workspace_billing_resume",
    ),
    path(
        "w/<slug:workspace_slug>/billing/success/",
        views.workspace_billing_success,
        name="workspace_billing_success",
    ),
    path(
        "w/<slug:workspace_slug>/billing/canceled/",
        views.workspace_billing_canceled,
        name="workspace_billing_canceled",
    ),
]
