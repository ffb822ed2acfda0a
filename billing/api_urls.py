from django.urls import path

from . import api

urlpatterns = [
    path("plans/", api.PlanListView.as_view(), name="api_plans"),
    path(
        "workspaces/<int:wid>/billing/resume/",
        api.ResumeView.as_view(),
        name="api_billing_resume",
    ),
    path(
        "workspaces/<int:wid>/billing/checkout/",
        api.CheckoutView.as_view(),
        name="api_billing_checkout",
    ),
    path(
        "workspaces/<int:wid>/billing/portal/",
        api.PortalView.as_view(),
        name="api_billing_portal",
    ),
]
