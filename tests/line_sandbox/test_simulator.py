"""The chat simulator page and its JSON controls, over HTTP as the page uses them."""

from urllib.parse import urlsplit

import httpx
from django.contrib.auth import get_user_model
from linebot.v3.messaging import (
    CreateRichMenuAliasRequest,
    PushMessageRequest,
    RichMenuRequest,
    TemplateMessage,
)

from line_sandbox import services
from line_sandbox.models import SandboxFault
from tests.line_sandbox.conftest import LIFF_ID, LOGIN_CHANNEL_ID, image_bytes

TWO_AREAS = {
    "size": {"width": 2500, "height": 843},
    "selected": True,
    "name": "タブA",
    "chatBarText": "メニュー",
    "areas": [
        {
            "bounds": {"x": 0, "y": 0, "width": 1250, "height": 843},
            "action": {
                "type": "postback",
                "label": "会員連携",
                "data": "action=link",
                "displayText": "会員連携",
            },
        },
        {
            "bounds": {"x": 1250, "y": 0, "width": 1250, "height": 843},
            "action": {"type": "richmenuswitch", "richMenuAliasId": "tab-b", "data": "tab=b"},
        },
    ],
}


def menu_with_image(sandbox, menu: dict) -> str:
    rich_menu_id = (
        sandbox.messaging_api().create_rich_menu(RichMenuRequest.from_dict(menu)).rich_menu_id
    )
    sandbox.blob_api().set_rich_menu_image(
        rich_menu_id, body=image_bytes(2500, 843), _headers={"Content-Type": "image/png"}
    )
    return rich_menu_id


def test_page_renders_in_japanese_without_external_assets(sandbox):
    page = httpx.get(f"{sandbox.url}/line-sandbox/")

    assert page.status_code == 200
    assert "トークシミュレーター" in page.text
    assert "https://" not in page.text.replace(sandbox.url, "")
    assert "simulator.js" in page.text


def test_create_follow_send_and_see_the_conversation(sandbox):
    created = sandbox.control("POST", "users", json={"displayName": "鈴木 一郎"}).json()["user"]
    user_id = created["userId"]

    followed = sandbox.control("POST", f"users/{user_id}/follow").json()
    sent = sandbox.control("POST", f"users/{user_id}/text", json={"text": "ポイント"}).json()
    sandbox.messaging_api().push_message(
        PushMessageRequest(
            to=user_id,
            messages=[
                TemplateMessage.from_dict(
                    {
                        "type": "template",
                        "altText": "連携",
                        "template": {
                            "type": "buttons",
                            "title": "会員連携",
                            "text": "会員証とLINEをつなぎます",
                            "actions": [
                                {
                                    "type": "uri",
                                    "label": "連携する",
                                    "uri": "https://example.com/link",
                                }
                            ],
                        },
                    }
                )
            ],
        )
    )
    state = sandbox.control("GET", f"users/{user_id}").json()
    later = sandbox.control("GET", f"users/{user_id}?after={state['messages'][-1]['id']}").json()

    assert followed == {"webhookStatus": 200}
    assert sent == {"webhookStatus": 200}
    assert state["user"]["friendStatus"] == "friend"
    assert [(m["direction"], m["source"]) for m in state["messages"]] == [
        ("system", "follow"),
        ("user", "text"),
        ("bot", "push"),
    ]
    assert state["messages"][2]["payload"]["template"]["title"] == "会員連携"
    assert [e["type"] for e in state["events"]] == ["message", "follow"]
    assert later["messages"] == []
    assert sandbox.control("POST", f"users/{user_id}/follow").status_code == 409


def test_rich_menu_taps_postback_and_switch_via_alias(sandbox, friend):
    api = sandbox.messaging_api()
    tab_a = menu_with_image(sandbox, TWO_AREAS)
    tab_b = menu_with_image(sandbox, {**TWO_AREAS, "name": "タブB"})
    api.set_default_rich_menu(tab_a)
    api.create_rich_menu_alias(
        CreateRichMenuAliasRequest(rich_menu_alias_id="tab-b", rich_menu_id=tab_b)
    )

    state = sandbox.control("GET", f"users/{friend.user_id}").json()
    image = httpx.get(f"{sandbox.url}{state['richMenu']['imageUrl']}")
    [postback_area, switch_area] = state["richMenu"]["areas"]
    sandbox.control(
        "POST", f"users/{friend.user_id}/action", json={"action": postback_area["action"]}
    )
    postback = sandbox.receiver.last.event
    sandbox.control(
        "POST", f"users/{friend.user_id}/action", json={"action": switch_area["action"]}
    )
    switched = sandbox.receiver.last.event
    after = sandbox.control("GET", f"users/{friend.user_id}").json()

    assert state["richMenu"]["richMenuId"] == tab_a
    assert image.status_code == 200 and image.content == image_bytes(2500, 843)
    assert postback["postback"] == {"data": "action=link"}
    assert switched["postback"] == {
        "data": "tab=b",
        "params": {"newRichMenuAliasId": "tab-b", "status": "SUCCESS"},
    }
    assert after["richMenu"]["richMenuId"] == tab_b
    assert any(m["payload"].get("displayText") == "会員連携" for m in after["messages"])


def test_message_action_sends_a_text_event(sandbox, friend):
    result = sandbox.control(
        "POST",
        f"users/{friend.user_id}/action",
        json={"action": {"type": "message", "text": "会員証"}},
    ).json()

    assert result == {"webhookStatus": 200}
    assert sandbox.receiver.last.event["message"]["text"] == "会員証"


def test_liff_uri_opens_the_local_liff_page_with_an_id_token(sandbox, friend):
    action = {"type": "uri", "uri": f"https://liff.line.me/{LIFF_ID}/card?from=menu"}

    result = sandbox.control(
        "POST", f"users/{friend.user_id}/action", json={"action": action}
    ).json()

    url = urlsplit(result["openUrl"])
    assert f"{url.scheme}://{url.netloc}" == sandbox.url
    assert (url.path, url.query) == ("/liff/card", "from=menu")
    id_token = url.fragment.removeprefix("id_token=")
    claims = services.id_token_verify(id_token, LOGIN_CHANNEL_ID)
    assert claims["sub"] == friend.user_id


def test_other_uris_open_unchanged(sandbox, friend):
    uri = "https://example.com/link?linkToken=abc"

    result = sandbox.control(
        "POST", f"users/{friend.user_id}/action", json={"action": {"type": "uri", "uri": uri}}
    ).json()

    assert result == {"openUrl": uri}


def test_faults_can_be_set_and_cleared_from_the_page(sandbox):
    listed = sandbox.control(
        "POST",
        "faults",
        json={"status": "500", "count": "2", "pathPrefix": "/v2/bot/richmenu", "latencyMs": "0"},
    ).json()
    cleared = sandbox.control("DELETE", "faults").json()

    assert listed["faults"] == [
        {"status": 500, "remaining": 2, "pathPrefix": "/v2/bot/richmenu", "latencyMs": 0}
    ]
    assert cleared == {"faults": []}
    assert SandboxFault.objects.count() == 0


def test_redeliver_from_the_page(sandbox, friend):
    event_id = sandbox.receiver.last.event["webhookEventId"]

    result = sandbox.control("POST", f"events/{event_id}/redeliver").json()

    assert result == {"webhookStatus": 200}
    assert sandbox.receiver.last.event["deliveryContext"] == {"isRedelivery": True}


def test_unknown_user_is_404(sandbox):
    assert sandbox.control("GET", f"users/U{'0' * 32}").status_code == 404


def test_admin_lists_sandbox_records_read_only(sandbox, friend):
    admin = get_user_model().objects.create_superuser("hq", "hq@example.jp", "pw-for-tests-1")
    models = ["sandboxuser", "sandboxmessage", "sandboxwebhookevent", "sandboxapicall"]

    with httpx.Client(base_url=sandbox.url) as client:
        client.get("/admin/login/")
        client.post(
            "/admin/login/",
            data={
                "username": admin.username,
                "password": "pw-for-tests-1",
                "csrfmiddlewaretoken": client.cookies["csrftoken"],
            },
            headers={"Referer": f"{sandbox.url}/admin/login/"},
        )
        listed = [client.get(f"/admin/line_sandbox/{model}/").status_code for model in models]
        add = client.get("/admin/line_sandbox/sandboxuser/add/").status_code

    assert listed == [200, 200, 200, 200]
    assert add == 403
