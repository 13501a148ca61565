"""HQ pages of the analytics app, mounted under /hq/ (see config/urls.py)."""

from django.urls import path

from analytics import views

app_name = "analytics"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
]
