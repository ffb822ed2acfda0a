from django.urls import path

from . import api

urlpatterns = [
    path("auth/signup/", api.SignupView.as_view(), name="api_signup"),
    path("auth/token/", api.TokenView.as_view(), name="api_token"),
    path("me/", api.MeView.as_view(), name="api_me"),
    path("me/export/", api.AccountExportView.as_view(), name="api_me_export"),
    path("workspaces/", api.WorkspaceListView.as_view(), name="api_workspaces"),
    path("workspaces/<int:wid>/", api.WorkspaceDetailView.as_view(), name="api_workspace"),
    path(
        "workspaces/<int:wid>/invitations/",
        api.InvitationListView.as_view(),
        name="api_workspace_invitations",
    ),
]
