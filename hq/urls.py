"""HQ pages, mounted at /hq/."""

from django.urls import path

from hq import views

app_name = "hq"
urlpatterns = [
    path("stores/", views.store_index, name="store_index"),
    path("stores/<slug:code>/poster", views.store_poster, name="store_poster"),
    path("stores/<slug:code>/poster.png", views.store_poster_png, name="store_poster_png"),
    path("exports/", views.export_index, name="export_index"),
    path("exports/<slug:kind>.csv", views.export_csv, name="export_csv"),
]
