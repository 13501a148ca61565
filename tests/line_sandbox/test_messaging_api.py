"""The Messaging API sandbox through the real line-bot-sdk v3 client over real HTTP."""

import json
import time
import uuid

import pytest
import time_machine
from linebot.v3.messaging import (
    ApiException,
    BroadcastRequest,
    FlexBubble,
    FlexMessage,
    MulticastRequest,
    PushMessageRequest,
    ReplyMessageRequest,
    TextMessage,
)

from line_sandbox import selectors, services
from line_sandbox.models import SandboxApiCall, SandboxMessage, SandboxReplyToken


def text(value: str) -> TextMessage:
    return TextMessage(text=value)


def body_of(exc: ApiException) -> dict:
    return json.loads(exc.body)


def test_push_delivers_to_a_friend_and_answers_sent_messages(sandbox, friend):
    response = sandbox.messaging_api().push_message_with_http_info(
        PushMessageRequest(to=friend.user_id, messages=[text("こんにちは")])
    )

    assert response.status_code == 200
    assert response.headers["x-line-request-id"]
    [sent] = response.data.sent_messages
    assert sent.id.isdigit() and len(sent.id) == 18
    assert sent.quote_token
    assert selectors.messages_received(friend) == [{"type": "text", "text": "こんにちは"}]


def test_push_repeated_with_the_same_retry_key_answers_409_and_sends_nothing_twice(sandbox, friend):
    api = sandbox.messaging_api()
    key = str(uuid.uuid4())
    request = PushMessageRequest(to=friend.user_id, messages=[text("領収書")])
    first = api.push_message_with_http_info(request, x_line_retry_key=key)

    with pytest.raises(ApiException) as caught:
        api.push_message(request, x_line_retry_key=key)

    assert caught.value.status == 409
    assert caught.value.headers["x-line-accepted-request-id"] == first.headers["x-line-request-id"]
    assert caught.value.headers["x-line-request-id"] != first.headers["x-line-request-id"]
    assert body_of(caught.value) == {
        "message": "The retry key is already accepted",
        "sentMessages": [
            {"id": s.id, "quoteToken": s.quote_token} for s in first.data.sent_messages
        ],
    }
    assert len(selectors.messages_received(friend)) == 1


def test_retry_key_is_forgotten_after_24_hours(sandbox, friend):
    api = sandbox.messaging_api()
    key = str(uuid.uuid4())
    request = PushMessageRequest(to=friend.user_id, messages=[text("again")])
    api.push_message(request, x_line_retry_key=key)

    with time_machine.travel(time.time() + 24 * 3600 + 60):
        api.push_message(request, x_line_retry_key=key)

    assert len(selectors.messages_received(friend)) == 2


def test_multicast_with_retry_key_reaches_every_friend_once(sandbox, friend):
    other = services.user_create("佐藤 太郎")
    services.user_follow(other)
    api = sandbox.messaging_api()
    key = str(uuid.uuid4())
    request = MulticastRequest(to=[friend.user_id, other.user_id], messages=[text("クーポン")])

    assert api.multicast_with_http_info(request, x_line_retry_key=key).status_code == 200
    with pytest.raises(ApiException) as caught:
        api.multicast(request, x_line_retry_key=key)

    assert caught.value.status == 409
    assert caught.value.headers["x-line-accepted-request-id"]
    assert len(selectors.messages_received(friend)) == 1
    assert len(selectors.messages_received(other)) == 1


def test_multicast_to_more_than_500_users_is_refused_with_details(sandbox, friend):
    # The SDK checks the 500 limit itself; construct() skips that to reach the server.
    request = MulticastRequest.construct(to=[friend.user_id] * 501, messages=[text("x")])

    with pytest.raises(ApiException) as caught:
        sandbox.messaging_api().multicast(request)

    assert caught.value.status == 400
    assert body_of(caught.value) == {
        "message": "The request body has 1 error(s)",
        "details": [{"message": "Size must be between 1 and 500", "property": "to"}],
    }
    assert SandboxMessage.objects.filter(direction="bot").count() == 0


def test_multicast_with_a_malformed_user_id_names_the_property(line_client, friend_row):
    response = line_client.api(
        "POST",
        "/v2/bot/message/multicast",
        json={"to": [friend_row.user_id, "nobody"], "messages": [{"type": "text", "text": "x"}]},
    )

    assert response.status_code == 400
    assert response.json() == {
        "message": "The property, to[1], in the request body is invalid (line: -, column: -)"
    }


@pytest.mark.parametrize(
    ("message", "prop", "detail"),
    [
        (
            {"type": "text", "text": "あ" * 5001},
            "messages[0].text",
            "Length must be between 0 and 5000",
        ),
        ({"type": "text", "text": ""}, "messages[0].text", "May not be empty"),
        ({"type": "sticker", "packageId": "446"}, "messages[0].stickerId", "must be specified"),
        (
            {
                "type": "image",
                "originalContentUrl": "http://x/a.png",
                "previewImageUrl": "https://x/b.png",
            },
            "messages[0].originalContentUrl",
            "invalid uri",
        ),
        (
            {"type": "flex", "contents": {"type": "bubble"}},
            "messages[0].altText",
            "must be specified",
        ),
        (
            {
                "type": "template",
                "altText": "alt",
                "template": {
                    "type": "buttons",
                    "text": "選んでください",
                    "actions": [
                        {"type": "message", "label": f"{i}", "text": f"{i}"} for i in range(5)
                    ],
                },
            },
            "messages[0].template.actions",
            "Size must be between 1 and 4",
        ),
        (
            {
                "type": "template",
                "altText": "alt",
                "template": {
                    "type": "confirm",
                    "text": "連携を解除しますか？",
                    "actions": [
                        {"type": "postback", "label": "はい", "data": "unlink=yes"},
                        {"type": "uri", "label": "いいえ", "uri": "ftp://example.com"},
                    ],
                },
            },
            "messages[0].template.actions[1].uri",
            "invalid uri",
        ),
        ({"type": "video"}, "messages[0].originalContentUrl", "must be specified"),
        ({"type": "gif"}, "messages[0].type", None),
    ],
)
def test_invalid_message_objects_answer_400_with_details(
    line_client, friend_row, message, prop, detail
):
    response = line_client.api(
        "POST", "/v2/bot/message/push", json={"to": friend_row.user_id, "messages": [message]}
    )

    assert response.status_code == 400
    body = response.json()
    assert body["message"].startswith("The request body has ")
    assert prop in [d["property"] for d in body["details"]]
    if detail:
        assert {"message": detail, "property": prop} in body["details"]
    assert selectors.messages_received(friend_row) == []


def test_six_messages_are_too_many(line_client, friend_row):
    response = line_client.api(
        "POST",
        "/v2/bot/message/push",
        json={"to": friend_row.user_id, "messages": [{"type": "text", "text": "x"}] * 6},
    )

    assert response.status_code == 400
    assert response.json()["details"] == [
        {"message": "Size must be between 1 and 5", "property": "messages"}
    ]


def test_flex_message_is_accepted_and_stored_as_sent(sandbox, friend):
    bubble = {
        "type": "bubble",
        "body": {
            "type": "box",
            "layout": "vertical",
            "contents": [
                {"type": "text", "text": "ポイント残高", "weight": "bold"},
                {"type": "text", "text": "1,200 pt"},
                {
                    "type": "button",
                    "style": "primary",
                    "action": {"type": "uri", "label": "会員証", "uri": "https://liff.line.me/x"},
                },
            ],
        },
    }
    message = FlexMessage(alt_text="ポイント残高", contents=FlexBubble.from_dict(bubble))

    sandbox.messaging_api().push_message(PushMessageRequest(to=friend.user_id, messages=[message]))

    [received] = selectors.messages_received(friend)
    assert received["type"] == "flex"
    assert received["contents"]["body"]["contents"][1]["text"] == "1,200 pt"


def test_push_to_a_user_who_blocked_answers_200_but_is_not_delivered(sandbox, friend):
    services.user_unfollow(friend)

    sandbox.messaging_api().push_message(
        PushMessageRequest(to=friend.user_id, messages=[text("x")])
    )

    assert selectors.messages_received(friend) == []
    assert SandboxMessage.objects.get(direction="bot").delivered is False


def test_push_to_an_unknown_user_fails_to_send(sandbox):
    with pytest.raises(ApiException) as caught:
        sandbox.messaging_api().push_message(
            PushMessageRequest(to="U" + "0" * 32, messages=[text("x")])
        )

    assert caught.value.status == 400
    assert body_of(caught.value) == {"message": "Failed to send messages"}


def test_reply_token_from_an_event_works_once(sandbox, friend):
    services.user_send_text(friend, "ポイント")
    token = sandbox.receiver.last.event["replyToken"]
    api = sandbox.messaging_api()

    reply = api.reply_message(ReplyMessageRequest(reply_token=token, messages=[text("1,200 pt")]))
    with pytest.raises(ApiException) as caught:
        api.reply_message(ReplyMessageRequest(reply_token=token, messages=[text("again")]))

    assert len(reply.sent_messages) == 1
    assert caught.value.status == 400
    assert body_of(caught.value) == {"message": "Invalid reply token"}
    assert selectors.messages_received(friend)[-1] == {"type": "text", "text": "1,200 pt"}


def test_reply_token_expires_after_a_minute(sandbox, friend):
    services.user_send_text(friend, "ヘルプ")
    token = sandbox.receiver.last.event["replyToken"]

    with time_machine.travel(time.time() + 61), pytest.raises(ApiException) as caught:
        sandbox.messaging_api().reply_message(
            ReplyMessageRequest(reply_token=token, messages=[text("late")])
        )

    assert caught.value.status == 400
    assert SandboxReplyToken.objects.get(token=token).used_at is None


def test_wrong_channel_access_token_is_401(sandbox, friend):
    with pytest.raises(ApiException) as caught:
        sandbox.messaging_api(token="not-the-token").push_message(
            PushMessageRequest(to=friend.user_id, messages=[text("x")])
        )

    assert caught.value.status == 401
    assert body_of(caught.value)["message"].startswith("Authentication failed")
    assert caught.value.headers["x-line-request-id"]
    assert selectors.messages_received(friend) == []


def test_missing_authorization_header_is_401(line_client):
    response = line_client.api("GET", "/v2/bot/info", headers={"Authorization": ""})

    assert response.status_code == 401
    assert "Authorization: Bearer" in response.json()["message"]


def test_profile_of_a_friend_and_404_for_others(sandbox, friend):
    stranger = services.user_create("通りすがり")
    api = sandbox.messaging_api()

    profile = api.get_profile(friend.user_id)
    with pytest.raises(ApiException) as caught:
        api.get_profile(stranger.user_id)

    assert (profile.user_id, profile.display_name, profile.language) == (
        friend.user_id,
        "山田 花子",
        "ja",
    )
    assert caught.value.status == 404
    assert body_of(caught.value) == {"message": "Not found"}


def test_profile_with_a_malformed_user_id_is_400(line_client):
    response = line_client.api("GET", "/v2/bot/profile/abc")

    assert response.status_code == 400
    assert response.json() == {"message": "The value for the 'userId' parameter is invalid"}


def test_link_token_is_issued_only_to_friends(sandbox, friend):
    stranger = services.user_create("通りすがり")
    api = sandbox.messaging_api()

    token = api.issue_link_token(friend.user_id).link_token
    with pytest.raises(ApiException) as caught:
        api.issue_link_token(stranger.user_id)

    assert len(token) == 32 and token.isalnum()
    assert caught.value.status == 400


def test_injected_429_fails_the_next_calls_then_lets_them_through(sandbox, friend):
    services.fault_set(status=429, count=2, path_prefix="/v2/bot/message")
    api = sandbox.messaging_api()
    request = PushMessageRequest(to=friend.user_id, messages=[text("retry me")])
    key = str(uuid.uuid4())

    statuses = []
    for _ in range(2):
        with pytest.raises(ApiException) as caught:
            api.push_message(request, x_line_retry_key=key)
        statuses.append(caught.value.status)
    assert api.get_profile(friend.user_id).user_id == friend.user_id  # other paths unaffected
    api.push_message(request, x_line_retry_key=key)

    assert statuses == [429, 429]
    assert body_of(caught.value) == {
        "message": "The API rate limit has been exceeded. Try again later."
    }
    assert len(selectors.messages_received(friend)) == 1


def test_injected_500_does_not_consume_the_retry_key(sandbox, friend):
    services.fault_set(status=500, count=1)
    api = sandbox.messaging_api()
    request = PushMessageRequest(to=friend.user_id, messages=[text("x")])
    key = str(uuid.uuid4())

    with pytest.raises(ApiException) as caught:
        api.push_message(request, x_line_retry_key=key)
    api.push_message(request, x_line_retry_key=key)

    assert caught.value.status == 500
    assert len(selectors.messages_received(friend)) == 1


def test_injected_latency_slows_calls_until_cleared(sandbox):
    services.fault_set(status=None, count=None, latency_ms=300, path_prefix="/v2/bot/info")
    api = sandbox.messaging_api()

    started = time.monotonic()
    api.get_bot_info()
    slow = time.monotonic() - started
    services.fault_clear()
    started = time.monotonic()
    api.get_bot_info()
    fast = time.monotonic() - started

    assert slow >= 0.3
    assert fast < 0.3


def test_retry_key_is_refused_where_line_does_not_support_it(sandbox, friend):
    services.user_send_text(friend, "x")
    response = sandbox.api(
        "POST",
        "/v2/bot/message/reply",
        headers={"X-Line-Retry-Key": str(uuid.uuid4())},
        json={
            "replyToken": sandbox.receiver.last.event["replyToken"],
            "messages": [{"type": "text", "text": "x"}],
        },
    )

    assert response.status_code == 400


def test_every_call_is_logged_with_its_request_id(sandbox, friend):
    api = sandbox.messaging_api()
    ok = api.get_profile_with_http_info(friend.user_id)
    with pytest.raises(ApiException):
        api.get_profile("U" + "f" * 32)

    calls = list(SandboxApiCall.objects.order_by("id"))
    assert [(c.method, c.path, c.status) for c in calls] == [
        ("GET", f"/v2/bot/profile/{friend.user_id}", 200),
        ("GET", f"/v2/bot/profile/U{'f' * 32}", 404),
    ]
    assert calls[0].request_id == ok.headers["x-line-request-id"]


def test_malformed_json_and_unknown_paths_answer_like_line(line_client):
    broken = line_client.api(
        "POST", "/v2/bot/message/push", data=b'{"to": ', content_type="application/json"
    )
    unknown = line_client.api("GET", "/v2/bot/nothing/here")

    assert broken.status_code == 400
    assert broken.json()["message"].startswith("The request body could not be parsed as JSON")
    assert unknown.status_code == 404
    assert unknown.json() == {"message": "Not found"}
    assert unknown.headers["x-line-request-id"]


def test_broadcast_reaches_friends_only(sandbox, friend):
    stranger = services.user_create("通りすがり")

    sandbox.messaging_api().broadcast(
        BroadcastRequest(messages=[text("全員へ")]),
        x_line_retry_key=str(uuid.uuid4()),
    )

    assert selectors.messages_received(friend) == [{"type": "text", "text": "全員へ"}]
    assert selectors.messages_received(stranger) == []


def test_multicast_over_the_channel_rate_limit_answers_429(line_client, friend_row, settings):
    """LINE allows 200 multicasts a second per channel (lowered here), then answers 429."""
    import time_machine

    settings.LINE_SANDBOX_MULTICAST_PER_SECOND = 2
    body = {"to": [friend_row.user_id], "messages": [{"type": "text", "text": "x"}]}

    with time_machine.travel("2026-07-01 12:00:00+09:00", tick=False):
        statuses = [
            line_client.api("POST", "/v2/bot/message/multicast", json=body).status_code
            for _ in range(3)
        ]
        over = line_client.api("POST", "/v2/bot/message/multicast", json=body)
    with time_machine.travel("2026-07-01 12:00:02+09:00", tick=False):
        later = line_client.api("POST", "/v2/bot/message/multicast", json=body)

    assert statuses == [200, 200, 429]
    assert over.status_code == 429
    assert over.json() == {"message": "The API rate limit has been exceeded. Try again later."}
    assert later.status_code == 200
    assert SandboxMessage.objects.filter(direction="bot").count() == 3
