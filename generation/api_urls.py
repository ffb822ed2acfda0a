from django.urls import path

from . import account_api, api

urlpatterns = [
    path("me/", account_api.MeView.as_view(), name="api_me"),
    path("me/export/", account_api.AccountExportView.as_view(), name="api_me_export"),
    path("workspaces/", account_api.WorkspaceListView.as_view(), name="api_workspaces"),
    path("workspaces/<int:wid>/", account_api.WorkspaceDetailView.as_view(), name="api_workspace"),
    path("styles/", api.StyleListView.as_view(), name="api_styles"),
    path(
        "workspaces/<int:wid>/styles/",
        api.WorkspaceStyleListView.as_view(),
        name="api_workspace_styles",
    ),
    path("workspaces/<int:wid>/photos/", api.PhotoListView.as_view(), name="api_photos"),
    path(
        "workspaces/<int:wid>/photos/<int:photo_id>/",
        api.PhotoDetailView.as_view(),
        name="api_photo",
    ),
    path("workspaces/<int:wid>/orders/", api.OrderListView.as_view(), name="api_orders"),
    path(
        "workspaces/<int:wid>/orders/<int:order_id>/",
        api.OrderDetailView.as_view(),
        name="api_order",
    ),
    path(
        "workspaces/<int:wid>/orders/<int:order_id>/cancel/",
        api.OrderCancelView.as_view(),
        name="api_order_cancel",
    ),
    path(
        "workspaces/<int:wid>/orders/<int:order_id>/more/",
        api.OrderMoreView.as_view(),
        name="api_order_more",
    ),
    path(
        "workspaces/<int:wid>/headshots/<int:headshot_id>/redo/",
        api.HeadshotRedoView.as_view(),
        name="api_headshot_redo",
    ),
    path(
        "workspaces/<int:wid>/orders/<int:order_id>/download/",
        api.OrderDownloadView.as_view(),
        name="api_order_download",
    ),
    path(
        "workspaces/<int:wid>/headshots/<int:headshot_id>/image/",
        api.HeadshotImageView.as_view(),
        name="api_headshot_image",
    ),
]
