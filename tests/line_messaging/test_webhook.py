import json

from line_messaging.models import LineFriend, OutboxMessage, WebhookEvent
from tests.line_messaging.conftest import event, sign


def test_bad_or_missing_signature_is_refused_and_changes_nothing(webhook, user_id):
    body = json.dumps({"destination": "U", "events": [event("follow", user_id)]}).encode()

    wrong = webhook.send(raw=body, signature=sign(body, secret="another-secret"))
    missing = webhook.send(raw=body, signature="")
    tampered = webhook.send(raw=body.replace(b"follow", b"unfollow"), signature=sign(body))

    assert [r.status_code for r in (wrong, missing, tampered)] == [401, 401, 401]
    assert wrong.json()["code"] == "signature_invalid"
    assert WebhookEvent.objects.count() == 0
    assert LineFriend.objects.count() == 0
    assert OutboxMessage.objects.count() == 0


def test_signed_body_that_is_not_a_webhook_is_a_400(webhook):
    response = webhook.send(raw=b'{"hello": 1}')

    assert response.status_code == 400
    assert response.json()["code"] == "webhook_body_invalid"


def test_follow_records_the_friend_and_welcomes_with_a_link_prompt(webhook, user_id):
    assert webhook.follow(user_id).status_code == 200

    friend = LineFriend.objects.get(user_id=user_id)
    assert not friend.is_blocked and friend.followed_at is not None
    welcome = OutboxMessage.objects.get(line_user_id=user_id)
    assert welcome.kind == "reply" and welcome.purpose == "welcome"
    assert any(m["type"] == "template" for m in welcome.payload["messages"])


def test_redelivered_event_is_processed_once(webhook, user_id):
    follow = event("follow", user_id)

    webhook.send(follow)
    redelivered = dict(follow, deliveryContext={"isRedelivery": True})
    assert webhook.send(redelivered).status_code == 200

    assert WebhookEvent.objects.count() == 1
    assert OutboxMessage.objects.filter(purpose="welcome").count() == 1


def test_unfollow_marks_the_friend_blocked(webhook, user_id):
    webhook.follow(user_id)

    webhook.unfollow(user_id)

    assert LineFriend.objects.get(user_id=user_id).is_blocked


def test_an_older_follow_arriving_after_an_unfollow_does_not_unblock(webhook, user_id):
    webhook.unfollow(user_id, timestamp=2_000)

    webhook.follow(user_id, timestamp=1_000)

    assert LineFriend.objects.get(user_id=user_id).is_blocked


def test_unknown_keyword_gets_help_and_link_keyword_starts_linking(webhook, user_id):
    webhook.follow(user_id)

    webhook.text(user_id, "こんにちは")
    webhook.text(user_id, "会員連携")

    purposes = list(
        OutboxMessage.objects.filter(line_user_id=user_id).values_list("purpose", "kind")
    )
    assert ("help", "reply") in purposes
    assert ("link_start", "link_token") in purposes


def test_points_keyword_for_an_unlinked_user_offers_linking(webhook, user_id):
    webhook.text(user_id, "ポイント")

    reply = OutboxMessage.objects.get(line_user_id=user_id, purpose="points")
    assert "会員連携" in json.dumps(reply.payload, ensure_ascii=False)


def test_rich_menu_postback_starts_linking(webhook, user_id):
    webhook.postback(user_id, "action=link_start")

    row = OutboxMessage.objects.get(line_user_id=user_id)
    assert row.kind == "link_token" and row.payload["reply_token"]


def test_group_events_and_malformed_events_are_ignored_without_error(webhook, user_id):
    group = event("message", user_id, message={"type": "text", "id": "1", "text": "hi"})
    group["source"] = {"type": "group", "groupId": "C1", "userId": user_id}

    response = webhook.send(group, {"type": "message"}, "not an event")

    assert response.status_code == 200
    assert OutboxMessage.objects.count() == 0
