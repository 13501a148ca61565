"""HQ pages of the audit app, mounted under /hq/ (see config/urls.py)."""

from django.urls import path  # noqa: F401

app_name = "audit"
urlpatterns: list = []
