from django.urls import path

from liff import views

app_name = "liff"
urlpatterns = [
    path("", views.card_page, name="card"),
]
