from django.urls import path

from . import api

urlpatterns = [
    path("auth/signup/", api.SignupView.as_view(), name="api_signup"),
    path("auth/token/", api.TokenView.as_view(), name="api_token"),
    path("auth/tokens/", api.TokenListView.as_view(), name="api_tokens"),
    path("auth/tokens/<int:token_id>/", api.TokenDetailView.as_view(), name="api_token_detail"),
    path("me/", api.MeView.as_view(), name="api_me"),
    path("me/export/", api.AccountExportView.as_view(), name="api_me_export"),
    path("workspaces/", api.WorkspaceListView.as_view(), name="api_workspaces"),
    path("workspaces/<int:wid>/", api.WorkspaceDetailView.as_view(), name="api_workspace"),
    path(
        "workspaces/<int:wid>/invitations/",
        api.InvitationListView.as_view(),
        name="api_workspace_invitations",
    ),
    path(
        "workspaces/<int:wid>/invitations/<int:invitation_id>/resend/",
        api.InvitationResendView.as_view(),
        name="api_invitation_resend",
    ),
]
