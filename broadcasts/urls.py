"""HQ pages of the broadcasts app, mounted under /hq/ (see config/urls.py)."""

from django.urls import path

from broadcasts import views

app_name = "broadcasts"
urlpatterns = [
    path("segments/", views.segments_index, name="segments_index"),
    path("segments/new/", views.segment_new, name="segment_new"),
    path("segments/count.json", views.segment_count_json, name="segment_count_json"),
    path("segments/<int:pk>/", views.segment_edit, name="segment_edit"),
    path("broadcasts/", views.broadcasts_index, name="broadcasts_index"),
    path("broadcasts/new/", views.broadcast_new, name="broadcast_new"),
    path("broadcasts/<int:pk>/", views.broadcast_detail, name="broadcast_detail"),
    path("broadcasts/<int:pk>/edit/", views.broadcast_edit, name="broadcast_edit"),
    path("broadcasts/<int:pk>/schedule/", views.broadcast_schedule_view, name="broadcast_schedule"),
    path("broadcasts/<int:pk>/cancel/", views.broadcast_cancel_view, name="broadcast_cancel"),
    path(
        "broadcasts/<int:pk>/test-send/", views.broadcast_test_send_view, name="broadcast_test_send"
    ),
    path("messages/", views.messages_index, name="messages_index"),
    path("messages/steps/new/", views.step_new, name="step_new"),
    path("messages/steps/<int:pk>/", views.step_edit, name="step_edit"),
    path("messages/<str:trigger>/", views.triggered_message_edit, name="triggered_message_edit"),
]
