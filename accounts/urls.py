from django.urls import path

from . import views

urlpatterns = [
    path("", views.landing, name="landing"),
    path("home/", views.home, name="home"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation_accept"),
    path("w/<slug:workspace_slug>/members/", views.workspace_members, name="workspace_members"),
    path(
        "w/<slug:workspace_slug>/members/invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
]
