from django.urls import path

from . import views

# Public: product pictures, no workspace and no login.
urlpatterns = [
    path("styles/<slug:slug>/sample/", views.style_sample, name="style_sample"),
]
