"""HQ pages, mounted at /hq/."""

from django.urls import path

from hq import views
from hq.views import members, purchases

app_name = "hq"
urlpatterns = [
    path("stores/", views.store_index, name="store_index"),
    path("stores/<slug:code>/poster", views.store_poster, name="store_poster"),
    path("stores/<slug:code>/poster.png", views.store_poster_png, name="store_poster_png"),
    path("exports/", views.export_index, name="export_index"),
    path("exports/<slug:kind>.csv", views.export_csv, name="export_csv"),
    path("purchases/", purchases.purchase_index, name="purchase_index"),
    path("purchases/<int:purchase_id>/", purchases.purchase_detail, name="purchase_detail"),
    path("members/", members.member_search, name="member_search"),
    path("members/<str:card_number>/", members.member_detail, name="member_detail"),
    path("members/<str:card_number>/adjust", members.member_adjust, name="member_adjust"),
    path("members/<str:card_number>/withdraw", members.member_withdrawal, name="member_withdrawal"),
]
