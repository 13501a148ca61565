"""The staff scanner, mounted at /staff/."""

from django.urls import path

from pos_bridge import staff_views

app_name = "staff"
urlpatterns = [
    path("", staff_views.home, name="home"),
    path("login/", staff_views.StaffLoginView.as_view(), name="login"),
    path("logout/", staff_views.StaffLogoutView.as_view(), name="logout"),
    path("lookup/", staff_views.card_lookup, name="lookup"),
    path("purchases/", staff_views.purchase_submit, name="purchase"),
    path("refunds/", staff_views.refund, name="refund"),
]
