from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts import views as account_views
from billing.urls import workspace_urlpatterns as billing_workspace_urlpatterns
from generation.urls import account_urlpatterns

from .health import healthz
from .metrics import metrics

api_v1 = [
    path("", include("accounts.api_urls")),
    path("", include("generation.api_urls")),
    path("", include("billing.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api_schema"), name="api_docs"),
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    # Ahead of allauth's own: sign-up knows about invitations.
    path("accounts/signup/", account_views.signup, name="account_signup"),
    path("accounts/", include("allauth.urls")),
    path("api/v1/", include(api_v1)),
    path("billing/", include("billing.urls")),
    path("", include(billing_workspace_urlpatterns)),
    path("", include("generation.public_urls")),
    path("", include("generation.urls")),
    path("", include(account_urlpatterns)),
    path("", include("accounts.urls")),
]

handler404 = "headshot_site.views.not_found"
handler500 = "headshot_site.views.server_error"
