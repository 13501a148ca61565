from django.urls import path

from line_messaging import views

app_name = "line_messaging"
urlpatterns = [
    path("webhook", views.webhook, name="webhook"),
    path("link/", views.link_page, name="link"),
]
