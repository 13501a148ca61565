import io

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from line_messaging.models import OutboxMessage, OutboxState, RichMenuImage


@pytest.fixture
def hq(db) -> Client:
    user = get_user_model().objects.create_superuser("hq", "hq@example.jp", "pw-for-tests-1")
    client = Client()
    client.force_login(user)
    return client


def _png(size: tuple[int, int]) -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", size, "green").save(out, format="PNG")
    return SimpleUploadedFile("menu.png", out.getvalue(), content_type="image/png")


def test_hq_can_upload_a_rich_menu_image_of_the_right_size(hq):
    response = hq.post(
        "/admin/line_messaging/richmenuimage/add/", {"name": "linked", "upload": _png((2500, 843))}
    )

    assert response.status_code == 302
    stored = RichMenuImage.objects.get(name="linked")
    assert stored.content_type == "image/png" and len(bytes(stored.image)) > 0


def test_an_image_of_the_wrong_size_is_refused_with_a_message(hq):
    response = hq.post(
        "/admin/line_messaging/richmenuimage/add/", {"name": "linked", "upload": _png((800, 800))}
    )

    assert response.status_code == 200
    assert "2500×843" in response.content.decode()
    assert not RichMenuImage.objects.exists()


def test_failed_messages_are_listed_and_can_be_queued_again(hq):
    from django.utils import timezone

    row = OutboxMessage.objects.create(
        kind="push",
        line_user_id="U" + "0" * 32,
        payload={"messages": []},
        state=OutboxState.FAILED,
        attempts=12,
        next_attempt_at=timezone.now(),
        last_error="LINE 400",
    )

    listing = hq.get("/admin/line_messaging/outboxmessage/?state__exact=failed")
    hq.post(
        "/admin/line_messaging/outboxmessage/",
        {"action": "retry_now", "_selected_action": [row.pk]},
    )

    assert "LINE 400" in listing.content.decode()
    row.refresh_from_db()
    assert row.state == OutboxState.PENDING and row.attempts == 0


def test_deploy_check_names_missing_line_settings(settings):
    from line_messaging.checks import line_credentials_check

    settings.LINE_CHANNEL_SECRET = ""
    settings.LIFF_ID = ""

    [warning] = line_credentials_check(None)

    assert warning.id == "line_messaging.W001"
    assert "LINE_CHANNEL_SECRET" in warning.msg and "LIFF_ID" in warning.msg
