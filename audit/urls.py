"""HQ pages of the audit app, mounted under /hq/ (see config/urls.py)."""

from django.urls import path

from audit import views

app_name = "audit"
urlpatterns = [
    path("audit/", views.audit_index, name="audit_index"),
]
