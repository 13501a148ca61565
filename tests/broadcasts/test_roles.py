"""Role boundaries on every broadcasts page: anonymous → login, store roles → 403, analysts
read but never write, HQ admins do both."""

import pytest
from django.test import Client

from broadcasts.models import Broadcast, Segment, StepMessage
from broadcasts.selectors import SegmentCriteria
from broadcasts.services.broadcasts import broadcast_save
from broadcasts.services.segments import segment_save
from hq.roles import HqRole
from line_messaging.models import OutboxMessage, TriggeredMessage
from pos_bridge.models import StaffRole


@pytest.fixture
def objects(db):
    segment = segment_save(actor=None, name="全員", criteria=SegmentCriteria())
    broadcast = broadcast_save(
        actor=None,
        name="お知らせ",
        segment=segment,
        content={"kind": "text", "text": "こんにちは"},
    )
    step = StepMessage.objects.create(name="7日後", days_after=7, template="{name}様")
    return {"segment": segment, "broadcast": broadcast, "step": step}


def _read_urls(o) -> list[str]:
    return [
        "/hq/segments/",
        f"/hq/segments/{o['segment'].pk}/",
        "/hq/segments/count.json",
        "/hq/broadcasts/",
        f"/hq/broadcasts/{o['broadcast'].pk}/",
        "/hq/messages/",
        "/hq/messages/purchase_receipt/",
        f"/hq/messages/steps/{o['step'].pk}/",
    ]


def _write_requests(o) -> list[tuple[str, dict]]:
    b = o["broadcast"].pk
    return [
        ("/hq/segments/new/", {"name": "新"}),
        (f"/hq/segments/{o['segment'].pk}/", {"name": "変更"}),
        (
            "/hq/broadcasts/new/",
            {"name": "x", "segment": o["segment"].pk, "kind": "text", "text": "x"},
        ),
        (
            f"/hq/broadcasts/{b}/edit/",
            {"name": "x", "segment": o["segment"].pk, "kind": "text", "text": "y"},
        ),
        (f"/hq/broadcasts/{b}/schedule/", {"send_now": "1"}),
        (f"/hq/broadcasts/{b}/cancel/", {}),
        (f"/hq/broadcasts/{b}/test-send/", {"recipient": "10000001"}),
        ("/hq/messages/purchase_receipt/", {"enabled": "on", "template": "{name}様"}),
        ("/hq/messages/steps/new/", {"name": "x", "days_after": "3", "template": "x"}),
        (f"/hq/messages/steps/{o['step'].pk}/", {"name": "x", "days_after": "3", "template": "x"}),
    ]


def _unchanged(o) -> None:
    assert Segment.objects.count() == 1 and Segment.objects.get().name == "全員"
    assert Broadcast.objects.count() == 1
    assert (
        Broadcast.objects.get().status == "draft" and Broadcast.objects.get().text == "こんにちは"
    )
    assert StepMessage.objects.count() == 1 and StepMessage.objects.get().name == "7日後"
    assert not OutboxMessage.objects.exists()
    assert not TriggeredMessage.objects.filter(template="{name}様").exists()


def test_anonymous_is_sent_to_the_login_page(objects):
    client = Client()
    for url in _read_urls(objects):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url
    for url, data in _write_requests(objects):
        response = client.post(url, data)
        assert response.status_code == 302 and "/login/" in response["Location"], url
    _unchanged(objects)


@pytest.mark.parametrize("role", [StaffRole.STORE_MANAGER, StaffRole.STORE_STAFF, "no_role"])
def test_store_roles_and_plain_logins_get_403(objects, make_user, store, role):
    client = Client()
    client.force_login(make_user(role, store=store))
    for url in _read_urls(objects):
        assert client.get(url).status_code == 403, url
    for url, data in _write_requests(objects):
        assert client.post(url, data).status_code == 403, url
    _unchanged(objects)


def test_analyst_reads_every_page_but_cannot_post(objects, analyst):
    for url in _read_urls(objects):
        assert analyst.get(url).status_code == 200, url
    for url, data in _write_requests(objects):
        assert analyst.post(url, data).status_code == 403, url
    _unchanged(objects)


def test_analyst_page_has_no_send_or_test_send_forms(objects, analyst):
    page = analyst.get(f"/hq/broadcasts/{objects['broadcast'].pk}/").content.decode()

    assert "テスト送信" not in page and "今すぐ配信" not in page


def test_admin_can_open_the_create_pages(objects, make_user):
    client = Client()
    client.force_login(make_user(HqRole.HQ_ADMIN))
    for url in ["/hq/segments/new/", "/hq/broadcasts/new/", "/hq/messages/steps/new/"]:
        assert client.get(url).status_code == 200, url


def test_forms_refuse_posts_without_the_csrf_token(objects, make_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user(HqRole.HQ_ADMIN))
    for url, data in _write_requests(objects):
        assert client.post(url, data).status_code == 403, url
    _unchanged(objects)
