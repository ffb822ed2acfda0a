from django.urls import path

from . import views

urlpatterns = [
    path("", views.landing, name="landing"),
    path("home/", views.home, name="home"),
    path("privacy/", views.privacy, name="privacy"),
    path("terms/", views.terms, name="terms"),
    path("account/tokens/", views.account_tokens, name="account_tokens"),
    path(
        "account/tokens/<int:token_id>/revoke/",
        views.account_token_revoke,
        name="account_token_revoke",
    ),
    path("staff/enroll/<str:token>/", views.staff_enroll, name="staff_enroll"),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation_accept"),
    path(
        "w/<slug:workspace_slug>/members/<int:member_id>/role/",
        views.membership_role,
        name="membership_role",
    ),
    path(
        "w/<slug:workspace_slug>/members/invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
    path(
        "w/<slug:workspace_slug>/members/invitations/<int:invitation_id>/resend/",
        views.invitation_resend,
        name="invitation_resend",
    ),
]
