"""Campaign messages end to end: HQ pages → run_message_jobs → outbox → LINE sandbox.

Multicasts of at most 500, blocked users skipped at delivery, opted-out friends never
targeted, resumable without double sends, never before the scheduled time."""

import datetime
import json

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditAction, AuditEntry
from broadcasts.models import (
    Broadcast,
    BroadcastBatch,
    BroadcastKind,
    BroadcastRecipient,
    BroadcastStatus,
    Segment,
)
from broadcasts.selectors import SegmentCriteria, broadcast_report, broadcasts_received
from broadcasts.services import broadcasts as broadcast_services
from broadcasts.services.broadcasts import broadcast_save, broadcast_schedule
from broadcasts.services.segments import segment_save
from line_messaging.models import OutboxMessage, OutboxState
from line_sandbox import selectors as sandbox_selectors
from line_sandbox import services as sandbox
from tests.broadcasts.conftest import bulk_members, link_friends

MULTICAST = "/v2/bot/message/multicast"


def _segment(**criteria) -> Segment:
    return segment_save(actor=None, name="全員", criteria=SegmentCriteria(**criteria))


def _text_broadcast(segment: Segment, body: str = "セール開催中!") -> Broadcast:
    return broadcast_save(
        actor=None,
        name="夏のセール",
        segment=segment,
        content={"kind": BroadcastKind.TEXT, "text": body},
    )


@pytest.mark.django_db(transaction=True)
def test_campaign_to_1201_recipients_makes_three_multicasts_and_skips_blocked_users(line, hq_admin):
    targeted = bulk_members(1201)
    friends = link_friends(targeted, sandbox=True)
    already_blocked = link_friends(bulk_members(20), blocked=True, sandbox=True)
    opted_out = link_friends(bulk_members(15), opted_in=False, sandbox=True)
    bulk_members(10)  # members without LINE
    segment = _segment()

    created = hq_admin.post(
        "/hq/broadcasts/new/",
        {"name": "夏のセール", "segment": segment.pk, "kind": "text", "text": "セール開催中!"},
    )
    broadcast = Broadcast.objects.get()
    sent_now = hq_admin.post(
        f"/hq/broadcasts/{broadcast.pk}/schedule/",
        {"send_now": "1"},
        page=f"/hq/broadcasts/{broadcast.pk}/",
    )
    assert created.status_code == 302 and sent_now.status_code == 302
    assert not OutboxMessage.objects.exists()  # the request only scheduled it
    audited = AuditEntry.objects.filter(target_type="broadcasts.broadcast").order_by("id")
    assert [(e.action, e.actor_id) for e in audited] == [
        (AuditAction.CREATE, hq_admin.user.pk),
        (AuditAction.MESSAGE_SEND, hq_admin.user.pk),
    ]

    call_command("run_message_jobs", "--once")
    # Five recipients block the account between queueing and delivery.
    blockers = friends[:3] + friends[700:702]
    for friend in blockers:
        assert sandbox.user_unfollow(friend.user_id) == 200
    call_command("deliver_messages", "--once")

    calls = list(sandbox_selectors.api_calls(path=MULTICAST, method="POST"))
    assert len(calls) == 3
    assert all(call.status == 200 for call in calls)
    sizes = sorted(len(json.loads(call.request_body)["to"]) for call in calls)
    assert sizes == [201, 500 - 3, 500 - 2]  # batches hold members in id order
    everyone_called = {uid for call in calls for uid in json.loads(call.request_body)["to"]}
    for friend in blockers + already_blocked + opted_out:
        assert friend.user_id not in everyone_called
        assert sandbox_selectors.messages_received(friend.user_id) == []
    assert sandbox_selectors.messages_received(friends[1000].user_id) == [
        {"type": "text", "text": "セール開催中!"}
    ]

    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.QUEUED
    assert (broadcast.estimated, broadcast.targeted, broadcast.batches_queued) == (1201, 1201, 3)
    report = broadcast_report(broadcast=broadcast)
    assert (report.sent, report.skipped, report.failed, report.pending) == (1196, 5, 0, 0)
    assert report.blocked_since == 0

    sandbox.user_unfollow(friends[900].user_id)
    assert broadcast_report(broadcast=broadcast).blocked_since == 1
    page = hq_admin.get(f"/hq/broadcasts/{broadcast.pk}/").content.decode()
    assert 'id="report-sent">1196<' in page and 'id="report-blocked-since">1<' in page
    received = broadcasts_received(line_user_id=friends[1000].user_id)
    assert [(r.broadcast_id, r.sent_at is not None) for r in received] == [(broadcast.pk, True)]


@pytest.mark.django_db(transaction=True)
def test_multicasts_stay_within_our_share_of_the_rate_limit(line, settings):
    """Over the per-second share the worker holds a multicast back a second; it is not an
    attempt and LINE is not called for it."""
    settings.LINE_MULTICAST_PER_SECOND = 2
    link_friends(bulk_members(1300), sandbox=True)
    broadcast = _text_broadcast(_segment())
    broadcast_schedule(actor=None, broadcast=broadcast, send_at=None)
    call_command("run_message_jobs", "--once")

    from line_messaging.services.outbox import outbox_deliver_due

    with time_machine.travel(timezone.now(), tick=False):
        first = outbox_deliver_due()
        assert (first.sent, first.deferred) == (2, 1)
        assert sandbox_selectors.api_calls(path=MULTICAST).count() == 2
        held = OutboxMessage.objects.get(state=OutboxState.PENDING)
        assert held.attempts == 0 and held.next_attempt_at > timezone.now()
    with time_machine.travel(timezone.now() + datetime.timedelta(seconds=2), tick=False):
        assert outbox_deliver_due().sent == 1
    assert sandbox_selectors.api_calls(path=MULTICAST).count() == 3


def test_opted_out_and_blocked_friends_are_never_targeted(db):
    link_friends(bulk_members(3))
    opted_out = link_friends(bulk_members(2), opted_in=False)
    blocked = link_friends(bulk_members(2), blocked=True)
    broadcast = _text_broadcast(_segment())
    broadcast_schedule(actor=None, broadcast=broadcast, send_at=None)

    call_command("run_message_jobs", "--once")

    recipients = set(BroadcastRecipient.objects.values_list("line_user_id", flat=True))
    assert len(recipients) == 3
    assert not recipients & {f.user_id for f in opted_out + blocked}


def test_a_crashed_job_resumes_without_queueing_anyone_twice(db, monkeypatch):
    link_friends(bulk_members(1201))
    broadcast = _text_broadcast(_segment())
    broadcast_schedule(actor=None, broadcast=broadcast, send_at=None)
    real_multicast = broadcast_services.outbox_multicast
    calls = {"n": 0}

    def crash_on_second_batch(**kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker killed")
        return real_multicast(**kwargs)

    monkeypatch.setattr(broadcast_services, "outbox_multicast", crash_on_second_batch)
    with pytest.raises(RuntimeError):
        call_command("run_message_jobs", "--once")
    assert BroadcastBatch.objects.count() == 1
    assert OutboxMessage.objects.count() == 1  # the failed batch left nothing behind

    monkeypatch.setattr(broadcast_services, "outbox_multicast", real_multicast)
    call_command("run_message_jobs", "--once")
    call_command("run_message_jobs", "--once")

    rows = list(OutboxMessage.objects.filter(purpose="broadcast"))
    queued = [uid for row in rows for uid in row.payload["to"]]
    assert len(rows) == 3
    assert len(queued) == len(set(queued)) == 1201
    assert BroadcastRecipient.objects.count() == 1201
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.QUEUED and broadcast.targeted == 1201


def test_a_bounded_run_continues_where_the_last_one_stopped(db):
    link_friends(bulk_members(1100))
    broadcast = _text_broadcast(_segment())
    broadcast_schedule(actor=None, broadcast=broadcast, send_at=None)

    call_command("run_message_jobs", "--once", "--max-batches", "1")
    broadcast.refresh_from_db()
    assert (broadcast.status, broadcast.targeted) == (BroadcastStatus.SENDING, 500)

    call_command("run_message_jobs", "--once")
    broadcast.refresh_from_db()
    assert (broadcast.status, broadcast.targeted, broadcast.batches_queued) == (
        BroadcastStatus.QUEUED,
        1100,
        3,
    )


def test_scheduled_broadcast_does_not_go_before_its_time(db, hq_admin):
    link_friends(bulk_members(4))
    broadcast = _text_broadcast(_segment())
    start = timezone.make_aware(datetime.datetime(2026, 7, 1, 9, 0))
    with time_machine.travel(start, tick=False):
        response = hq_admin.post(
            f"/hq/broadcasts/{broadcast.pk}/schedule/",
            {"send_at": "2026-07-01T18:30"},
            page=f"/hq/broadcasts/{broadcast.pk}/",
        )
        assert response.status_code == 302
        call_command("run_message_jobs", "--once")
    with time_machine.travel(start + datetime.timedelta(hours=9, minutes=29), tick=False):
        call_command("run_message_jobs", "--once")
    assert not OutboxMessage.objects.exists()
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.SCHEDULED

    with time_machine.travel(start + datetime.timedelta(hours=9, minutes=30), tick=False):
        call_command("run_message_jobs", "--once")
    assert OutboxMessage.objects.filter(purpose="broadcast").count() == 1
    assert AuditEntry.objects.filter(
        action=AuditAction.MESSAGE_SEND, target_id=str(broadcast.pk)
    ).exists()


def test_cancelled_broadcast_is_never_sent_and_cannot_be_cancelled_once_started(db, hq_admin):
    link_friends(bulk_members(2))
    future = timezone.now() + datetime.timedelta(hours=1)
    cancelled = _text_broadcast(_segment())
    broadcast_schedule(actor=None, broadcast=cancelled, send_at=future)
    started = _text_broadcast(cancelled.segment)
    broadcast_schedule(actor=None, broadcast=started, send_at=None)
    call_command("run_message_jobs", "--once")

    ok = hq_admin.post(
        f"/hq/broadcasts/{cancelled.pk}/cancel/", {}, page=f"/hq/broadcasts/{cancelled.pk}/"
    )
    refused = hq_admin.post(
        f"/hq/broadcasts/{started.pk}/cancel/", {}, page=f"/hq/broadcasts/{started.pk}/"
    )
    with time_machine.travel(future + datetime.timedelta(minutes=1)):
        call_command("run_message_jobs", "--once")

    cancelled.refresh_from_db()
    started.refresh_from_db()
    assert ok.status_code == refused.status_code == 302
    assert cancelled.status == BroadcastStatus.CANCELLED and cancelled.targeted == 0
    assert started.status == BroadcastStatus.QUEUED
    assert "取り消せません" in hq_admin.get(refused["Location"]).content.decode()
    assert AuditEntry.objects.filter(action=AuditAction.MESSAGE_CANCEL).count() == 1


def test_schedule_in_the_past_is_refused_in_japanese(db, hq_admin):
    broadcast = _text_broadcast(_segment())

    response = hq_admin.post(
        f"/hq/broadcasts/{broadcast.pk}/schedule/",
        {"send_at": "2001-01-01T10:00"},
        page=f"/hq/broadcasts/{broadcast.pk}/",
    )

    assert response.status_code == 400
    assert "現在より後" in response.content.decode()
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.DRAFT


@pytest.mark.django_db(transaction=True)
def test_test_send_pushes_to_one_linked_friend_by_card_number(line, hq_admin):
    (member,) = bulk_members(1)
    (friend,) = link_friends([member], sandbox=True, opted_in=False)
    link_friends(bulk_members(3), sandbox=True)
    broadcast = broadcast_save(
        actor=None,
        name="クーポン",
        segment=_segment(),
        content={
            "kind": BroadcastKind.COUPON,
            "coupon_title": "10%オフ",
            "coupon_description": "店内全品",
            "coupon_code": "SUMMER10",
            "coupon_valid_until": datetime.date(2026, 8, 31),
            "image_url": "https://example.com/coupon.png",
        },
    )

    response = hq_admin.post(
        f"/hq/broadcasts/{broadcast.pk}/test-send/",
        {"recipient": member.card_number},
        page=f"/hq/broadcasts/{broadcast.pk}/",
    )
    call_command("deliver_messages", "--once")

    assert response.status_code == 302
    (received,) = sandbox_selectors.messages_received(friend.user_id)
    assert received["type"] == "flex" and "SUMMER10" in json.dumps(received, ensure_ascii=False)
    assert sandbox_selectors.api_calls(path="/v2/bot/message/push").count() == 1
    assert not sandbox_selectors.api_calls(path=MULTICAST).exists()
    entry = AuditEntry.objects.get(action=AuditAction.TEST_SEND)
    assert entry.actor == hq_admin.user and entry.after["line_user_id"] == friend.user_id


def test_test_send_to_an_unknown_recipient_is_refused_and_writes_nothing(db, hq_admin):
    (member,) = bulk_members(1)
    link_friends([member], blocked=True)
    broadcast = _text_broadcast(_segment())

    for recipient in ("99999999", member.card_number):
        response = hq_admin.post(
            f"/hq/broadcasts/{broadcast.pk}/test-send/",
            {"recipient": recipient},
            page=f"/hq/broadcasts/{broadcast.pk}/",
        )
        assert response.status_code == 404
        assert "見つかりません" in response.content.decode()
    assert not OutboxMessage.objects.exists()
    assert not AuditEntry.objects.filter(action=AuditAction.TEST_SEND).exists()


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"kind": "text", "text": ""}, "text", "本文を入力"),
        ({"kind": "text", "text": "あ" * 5001}, "text", "5,000文字"),
        (
            {
                "kind": "image",
                "image_url": "http://example.com/a.png",
                "preview_image_url": "https://example.com/p.png",
            },
            "image_url",
            "https://",
        ),
        ({"kind": "image", "image_url": "https://example.com/a.png"}, "preview_image_url", "URL"),
        ({"kind": "image", "image_url": "not a url", "preview_image_url": "x"}, "image_url", "URL"),
        ({"kind": "coupon", "coupon_title": "割引"}, "coupon_code", "クーポンコード"),
        ({"kind": "sms", "text": "x"}, "kind", "正しく選択"),
    ],
)
def test_bad_broadcast_input_is_refused_in_japanese_and_nothing_is_written(
    db, hq_admin, data, field, message
):
    segment = _segment()
    AuditEntry.objects.all().delete()

    response = hq_admin.post("/hq/broadcasts/new/", {"name": "x", "segment": segment.pk, **data})

    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert not Broadcast.objects.exists()
    assert not AuditEntry.objects.exists()


def test_preview_renders_the_coupon_without_saving(db, hq_admin):
    segment = _segment()

    response = hq_admin.post(
        "/hq/broadcasts/new/",
        {
            "name": "x",
            "segment": segment.pk,
            "kind": "coupon",
            "coupon_title": "半額クーポン",
            "coupon_code": "HALF50",
            "coupon_valid_until": "2026-09-30",
            "preview": "1",
        },
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "line-preview-coupon" in page and "HALF50" in page and "2026年9月30日" in page
    assert not Broadcast.objects.exists()


def test_editing_a_started_broadcast_is_refused(db, hq_admin):
    link_friends(bulk_members(1))
    broadcast = _text_broadcast(_segment())
    broadcast_schedule(actor=None, broadcast=broadcast, send_at=None)
    call_command("run_message_jobs", "--once")

    response = hq_admin.client.get(f"/hq/broadcasts/{broadcast.pk}/edit/")

    assert response.status_code == 302
    with pytest.raises(broadcast_services.BroadcastNotEditable):
        broadcast_save(
            actor=None,
            broadcast=broadcast,
            name="変更",
            segment=broadcast.segment,
            content={"kind": "text", "text": "変更"},
        )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_job_runs_queue_each_recipient_once():
    """Two workers on the same due broadcast: the row lock and the unique batch number
    leave exactly one batch per 500 recipients."""
    import threading

    from django.db import connection

    link_friends(bulk_members(1201))
    broadcast = _text_broadcast(_segment())
    broadcast_schedule(actor=None, broadcast=broadcast, send_at=None)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            broadcast_services.broadcasts_run_due()
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    queued = [
        uid
        for row in OutboxMessage.objects.filter(purpose="broadcast")
        for uid in row.payload["to"]
    ]
    assert len(queued) == len(set(queued)) == 1201
    assert list(BroadcastBatch.objects.values_list("batch_no", flat=True)) == [1, 2, 3]


@pytest.mark.django_db(transaction=True)
def test_report_counts_a_refused_multicast_as_failed_and_a_429_as_retried(line):
    link_friends(bulk_members(700), sandbox=True)
    broadcast = _text_broadcast(_segment())
    broadcast_schedule(actor=None, broadcast=broadcast, send_at=None)
    call_command("run_message_jobs", "--once")
    # The first multicast meets a 429 (retried later), the next a 400 (permanent).
    sandbox.fault_set(status=429, count=1, path_prefix=MULTICAST)
    sandbox.fault_set(status=400, count=1, path_prefix=MULTICAST)

    from line_messaging.services.outbox import outbox_deliver_due

    first = outbox_deliver_due()
    report = broadcast_report(broadcast=broadcast)

    assert (first.retried, first.failed) == (1, 1)
    assert (report.pending, report.failed, report.sent) == (500, 200, 0)
    OutboxMessage.objects.filter(state=OutboxState.PENDING).update(next_attempt_at=timezone.now())
    outbox_deliver_due()
    report = broadcast_report(broadcast=broadcast)
    assert (report.pending, report.failed, report.sent, report.skipped) == (0, 200, 500, 0)
