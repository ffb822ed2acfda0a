from django.urls import path

from . import account_views, team_views, views

# A person's own pages, outside any one workspace.
account_urlpatterns = [
    path("dashboard/", account_views.dashboard, name="dashboard"),
    path("account/", account_views.account_data, name="account_data"),
    path("account/export/", account_views.account_export, name="account_export"),
]

# Every page and endpoint hangs under the workspace; object ids are named
# photo_id / order_id / headshot_id.
urlpatterns = [
    path("w/<slug:workspace_slug>/", views.studio, name="studio"),
    path("w/<slug:workspace_slug>/billing/", views.workspace_billing, name="workspace_billing"),
    path(
        "w/<slug:workspace_slug>/members/",
        team_views.workspace_members,
        name="workspace_members",
    ),
    path(
        "w/<slug:workspace_slug>/members/bulk-invite/",
        team_views.invitations_bulk,
        name="invitations_bulk",
    ),
    path("w/<slug:workspace_slug>/styles/", views.workspace_styles, name="workspace_styles"),
    path("w/<slug:workspace_slug>/photos/", views.photo_upload, name="photo_upload"),
    path(
        "w/<slug:workspace_slug>/photos/<int:photo_id>/",
        views.photo_status,
        name="photo_status",
    ),
    path(
        "w/<slug:workspace_slug>/photos/<int:photo_id>/preview/",
        views.photo_preview,
        name="photo_preview",
    ),
    path(
        "w/<slug:workspace_slug>/photos/<int:photo_id>/delete/",
        views.photo_delete,
        name="photo_delete",
    ),
    path("w/<slug:workspace_slug>/orders/", views.order_history, name="order_history"),
    path("w/<slug:workspace_slug>/orders/new/", views.order_create, name="order_create"),
    path("w/<slug:workspace_slug>/orders/<int:order_id>/", views.order_detail, name="order_detail"),
    path(
        "w/<slug:workspace_slug>/orders/<int:order_id>/status/",
        views.order_status,
        name="order_status",
    ),
    path(
        "w/<slug:workspace_slug>/orders/<int:order_id>/cancel/",
        views.order_cancel,
        name="order_cancel",
    ),
    path(
        "w/<slug:workspace_slug>/orders/<int:order_id>/more/",
        views.order_more,
        name="order_more",
    ),
    path(
        "w/<slug:workspace_slug>/headshots/<int:headshot_id>/redo/",
        views.headshot_redo,
        name="headshot_redo",
    ),
    path(
        "w/<slug:workspace_slug>/orders/<int:order_id>/download/",
        views.order_download,
        name="order_download",
    ),
    path(
        "w/<slug:workspace_slug>/headshots/<int:headshot_id>/",
        views.headshot_image,
        name="headshot_image",
    ),
    path(
        "w/<slug:workspace_slug>/headshots/<int:headshot_id>/thumbnail/",
        views.headshot_thumbnail,
        name="headshot_thumbnail",
    ),
    path(
        "w/<slug:workspace_slug>/headshots/<int:headshot_id>/choose/",
        team_views.headshot_choose,
        name="headshot_choose",
    ),
    path(
        "w/<slug:workspace_slug>/members/chosen-headshots.zip",
        team_views.team_chosen_download,
        name="team_chosen_download",
    ),
]
