from django.urls import path

from . import api

urlpatterns = [
    path("auth/signup/", api.SignupView.as_view(), name="api_signup"),
    path("auth/token/", api.TokenView.as_view(), name="api_token"),
    path("auth/tokens/", api.TokenListView.as_view(), name="api_tokens"),
    path("auth/tokens/<int:token_id>/", api.TokenDetailView.as_view(), name="api_token_detail"),
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
