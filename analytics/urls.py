"""HQ pages of the analytics app, mounted under /hq/ (see config/urls.py)."""

from django.urls import path  # noqa: F401

app_name = "analytics"
urlpatterns: list = []
