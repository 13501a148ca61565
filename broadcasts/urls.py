"""HQ pages of the broadcasts app, mounted under /hq/ (see config/urls.py)."""

from django.urls import path  # noqa: F401

app_name = "broadcasts"
urlpatterns: list = []
