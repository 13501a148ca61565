"""Rich menus, their images (api-data host), default and per-user links, bulk links, aliases."""

import io
import json
import os
from typing import Any

import pytest
from linebot.v3.messaging import (
    ApiException,
    CreateRichMenuAliasRequest,
    MessagingApiBlob,
    RichMenuBulkLinkRequest,
    RichMenuBulkUnlinkRequest,
    RichMenuRequest,
    UpdateRichMenuAliasRequest,
)
from PIL import Image

from line_sandbox import selectors, services
from line_sandbox.models import SandboxRichMenu
from tests.line_sandbox.conftest import image_bytes

MENU: dict[str, Any] = {
    "size": {"width": 2500, "height": 843},
    "selected": True,
    "name": "未連携メニュー",
    "chatBarText": "メニュー",
    "areas": [
        {
            "bounds": {"x": 0, "y": 0, "width": 1250, "height": 843},
            "action": {"type": "postback", "label": "会員連携", "data": "action=link"},
        },
        {
            "bounds": {"x": 1250, "y": 0, "width": 1250, "height": 843},
            "action": {"type": "uri", "label": "お店の情報", "uri": "https://example.com/shop"},
        },
    ],
}


def shown_menu_id(user) -> str:
    menu = selectors.user_rich_menu_shown(services.user_get(user))
    assert menu is not None
    return menu.rich_menu_id


def body_of(exc: ApiException) -> dict:
    return json.loads(exc.body)


def menu_create(sandbox, menu: dict | None = None, *, with_image: bool = True) -> str:
    request = RichMenuRequest.from_dict(menu or MENU)
    rich_menu_id = sandbox.messaging_api().create_rich_menu(request).rich_menu_id
    if with_image:
        size = (menu or MENU)["size"]
        sandbox.blob_api().set_rich_menu_image(
            rich_menu_id,
            body=image_bytes(size["width"], size["height"]),
            _headers={"Content-Type": "image/png"},
        )
    return rich_menu_id


def test_rich_menu_lifecycle_through_the_sdk(sandbox, friend):
    api = sandbox.messaging_api()
    rich_menu_id = menu_create(sandbox)

    fetched = api.get_rich_menu(rich_menu_id)
    listed = api.get_rich_menu_list().richmenus
    downloaded = sandbox.blob_api().get_rich_menu_image(rich_menu_id)
    api.set_default_rich_menu(rich_menu_id)

    assert rich_menu_id.startswith("richmenu-") and len(rich_menu_id) == 41
    assert fetched.name == "未連携メニュー"
    assert fetched.areas[0].action.data == "action=link"
    assert [m.rich_menu_id for m in listed] == [rich_menu_id]
    assert bytes(downloaded) == image_bytes(2500, 843)
    assert api.get_default_rich_menu_id().rich_menu_id == rich_menu_id
    assert shown_menu_id(friend) == rich_menu_id

    api.cancel_default_rich_menu()
    with pytest.raises(ApiException) as caught:
        api.get_default_rich_menu_id()
    assert caught.value.status == 404
    assert body_of(caught.value) == {"message": "no default richmenu", "details": []}


def test_per_user_link_overrides_the_default_and_unlink_falls_back(sandbox, friend):
    api = sandbox.messaging_api()
    default_id = menu_create(sandbox)
    linked_id = menu_create(sandbox, {**MENU, "name": "連携済みメニュー"})
    api.set_default_rich_menu(default_id)

    api.link_rich_menu_id_to_user(friend.user_id, linked_id)
    linked = api.get_rich_menu_id_of_user(friend.user_id).rich_menu_id
    shown_linked = shown_menu_id(friend)
    api.unlink_rich_menu_id_from_user(friend.user_id)
    shown_after = shown_menu_id(friend)

    assert linked == shown_linked == linked_id
    assert shown_after == default_id
    with pytest.raises(ApiException) as caught:
        api.get_rich_menu_id_of_user(friend.user_id)
    assert body_of(caught.value) == {"message": "the user has no richmenu", "details": []}


def test_bulk_link_answers_202_and_links_friends_only(sandbox, friend):
    stranger = services.user_create("通りすがり")
    api = sandbox.messaging_api()
    rich_menu_id = menu_create(sandbox)

    response = api.link_rich_menu_id_to_users_with_http_info(
        RichMenuBulkLinkRequest(
            rich_menu_id=rich_menu_id, user_ids=[friend.user_id, stranger.user_id]
        )
    )

    assert response.status_code == 202
    assert response.headers["x-line-request-id"]
    assert services.user_get(friend).rich_menu == SandboxRichMenu.objects.get(
        rich_menu_id=rich_menu_id
    )
    assert services.user_get(stranger).rich_menu is None
    assert selectors.api_calls(path="/v2/bot/richmenu/bulk/link").count() == 1

    unlinked = api.unlink_rich_menu_id_from_users_with_http_info(
        RichMenuBulkUnlinkRequest(user_ids=[friend.user_id])
    )
    assert unlinked.status_code == 202
    assert services.user_get(friend).rich_menu is None


def test_bulk_link_refuses_unknown_menus_and_menus_without_image(sandbox, friend):
    api = sandbox.messaging_api()
    no_image = menu_create(sandbox, with_image=False)
    missing = "richmenu-" + "0" * 32

    with pytest.raises(ApiException) as not_found:
        api.link_rich_menu_id_to_users(
            RichMenuBulkLinkRequest(rich_menu_id=missing, user_ids=[friend.user_id])
        )
    with pytest.raises(ApiException) as imageless:
        api.link_rich_menu_id_to_users(
            RichMenuBulkLinkRequest(rich_menu_id=no_image, user_ids=[friend.user_id])
        )
    bad_user = sandbox.api(
        "POST", "/v2/bot/richmenu/bulk/link", json={"richMenuId": no_image, "userIds": ["x"]}
    )

    assert (not_found.value.status, body_of(not_found.value)["message"]) == (
        404,
        "richmenu not found",
    )
    assert imageless.value.status == 400
    assert (
        body_of(imageless.value)["message"]
        == "must upload richmenu image before applying it to user"
    )
    assert bad_user.status_code == 400
    assert bad_user.json()["message"] == (
        "The property, 'userIds[0]', in the request body is invalid (line: -, column: -)"
    )


def menu_create_via_client(
    line_client, menu: dict | None = None, *, with_image: bool = True
) -> str:
    menu = menu or MENU
    rich_menu_id = line_client.api("POST", "/v2/bot/richmenu", json=menu).json()["richMenuId"]
    if with_image:
        size = menu["size"]
        line_client.api(
            "POST",
            f"/v2/bot/richmenu/{rich_menu_id}/content",
            host="api-data",
            data=image_bytes(size["width"], size["height"]),
            content_type="image/png",
        )
    return rich_menu_id


def test_bulk_link_over_500_users_is_refused(line_client):
    rich_menu_id = menu_create_via_client(line_client)
    response = line_client.api(
        "POST",
        "/v2/bot/richmenu/bulk/link",
        json={"richMenuId": rich_menu_id, "userIds": ["U" + "a" * 32] * 501},
    )

    assert response.status_code == 400
    assert response.json()["details"] == [
        {"message": "Size must be between 1 and 500", "property": "userIds"}
    ]


@pytest.mark.parametrize(
    ("change", "prop"),
    [
        ({"size": {"width": 700, "height": 250}}, "size.width"),
        ({"size": {"width": 2600, "height": 843}}, "size.width"),
        ({"size": {"width": 800, "height": 200}}, "size.height"),
        ({"size": {"width": 1000, "height": 700}}, "size"),
        ({"chatBarText": "十五文字を超えるチャットバーテキスト"}, "chatBarText"),
        ({"name": None}, "name"),
        (
            {
                "areas": [
                    {
                        "bounds": {"x": 2000, "y": 0, "width": 600, "height": 843},
                        "action": {"type": "message", "text": "x"},
                    }
                ]
            },
            "areas[0].bounds",
        ),
        (
            {
                "areas": [
                    {
                        "bounds": {"x": 0, "y": 0, "width": 10, "height": 10},
                        "action": {"type": "message", "text": "x"},
                    }
                ]
                * 21
            },
            "areas",
        ),
        (
            {
                "areas": [
                    {
                        "bounds": {"x": 0, "y": 0, "width": 10, "height": 10},
                        "action": {"type": "uri", "uri": "javascript:alert(1)"},
                    }
                ]
            },
            "areas[0].action.uri",
        ),
    ],
)
def test_invalid_rich_menus_are_refused_by_create_and_validate(line_client, change, prop):
    menu = {**MENU, **change}
    created = line_client.api("POST", "/v2/bot/richmenu", json=menu)
    validated = line_client.api("POST", "/v2/bot/richmenu/validate", json=menu)

    for response in (created, validated):
        assert response.status_code == 400
        assert response.json()["message"].startswith("The request body has ")
        assert prop in [d["property"] for d in response.json()["details"]]
    assert SandboxRichMenu.objects.count() == 0


def test_validate_accepts_a_good_rich_menu(sandbox):
    sandbox.messaging_api().validate_rich_menu_object(RichMenuRequest.from_dict(MENU))

    assert SandboxRichMenu.objects.count() == 0


def test_a_channel_holds_at_most_1000_rich_menus(line_client):
    SandboxRichMenu.objects.bulk_create(
        SandboxRichMenu(
            rich_menu_id=f"richmenu-{i:032x}", name="m", chat_bar_text="m", width=2500, height=843
        )
        for i in range(1000)
    )

    response = line_client.api("POST", "/v2/bot/richmenu", json=MENU)

    assert response.status_code == 400
    assert SandboxRichMenu.objects.count() == 1000


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (image_bytes(1200, 405), "image/png", 400),  # not the menu's size
        (image_bytes(2500, 843, fmt="JPEG"), "image/gif", 415),
        (b"not an image at all", "image/png", 400),
    ],
)
def test_image_upload_checks_type_and_pixel_size(line_client, content, content_type, status):
    rich_menu_id = menu_create_via_client(line_client, with_image=False)

    response = line_client.api(
        "POST",
        f"/v2/bot/richmenu/{rich_menu_id}/content",
        host="api-data",
        data=content,
        content_type=content_type,
    )

    assert response.status_code == status
    assert SandboxRichMenu.objects.get(rich_menu_id=rich_menu_id).has_image is False


def test_image_over_1_mb_is_refused(line_client):
    menu = {**MENU, "size": {"width": 800, "height": 540}, "areas": []}
    rich_menu_id = menu_create_via_client(line_client, menu, with_image=False)
    # Noise does not compress, so the PNG stays over 1 MB.
    noise = Image.frombytes("RGB", (800, 540), os.urandom(800 * 540 * 3))
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG")
    assert buffer.tell() > 1024 * 1024

    response = line_client.api(
        "POST",
        f"/v2/bot/richmenu/{rich_menu_id}/content",
        host="api-data",
        data=buffer.getvalue(),
        content_type="image/png",
    )

    assert response.status_code == 400
    assert response.json()["message"] == "The image size is not allowed for richmenu"


def test_an_image_can_be_set_only_once_and_only_on_existing_menus(sandbox):
    rich_menu_id = menu_create(sandbox)
    blob = sandbox.blob_api()

    with pytest.raises(ApiException) as again:
        blob.set_rich_menu_image(
            rich_menu_id, body=image_bytes(2500, 843), _headers={"Content-Type": "image/png"}
        )
    with pytest.raises(ApiException) as missing:
        blob.set_rich_menu_image(
            "richmenu-" + "0" * 32,
            body=image_bytes(2500, 843),
            _headers={"Content-Type": "image/png"},
        )

    assert again.value.status == 400
    assert body_of(again.value)["message"] == "An image has already been uploaded to the richmenu"
    assert missing.value.status == 404


def test_image_upload_sent_to_the_api_host_is_not_found(sandbox):
    """The SDK sends blob calls to its configuration's host: api.line.me has no image API."""
    rich_menu_id = menu_create(sandbox, with_image=False)
    wrong = MessagingApiBlob(sandbox.sdk_client(sandbox.api_url))

    with pytest.raises(ApiException) as caught:
        wrong.set_rich_menu_image(
            rich_menu_id, body=image_bytes(2500, 843), _headers={"Content-Type": "image/png"}
        )

    assert caught.value.status == 404
    assert SandboxRichMenu.objects.get(rich_menu_id=rich_menu_id).has_image is False


def test_linking_a_menu_without_image_is_refused(sandbox, friend):
    rich_menu_id = menu_create(sandbox, with_image=False)

    with pytest.raises(ApiException) as caught:
        sandbox.messaging_api().link_rich_menu_id_to_user(friend.user_id, rich_menu_id)

    assert caught.value.status == 400
    assert services.user_get(friend).rich_menu is None


def test_deleting_a_linked_menu_falls_back_to_the_default(sandbox, friend):
    api = sandbox.messaging_api()
    default_id = menu_create(sandbox)
    linked_id = menu_create(sandbox)
    api.set_default_rich_menu(default_id)
    api.link_rich_menu_id_to_user(friend.user_id, linked_id)

    api.delete_rich_menu(linked_id)

    assert shown_menu_id(friend) == default_id
    with pytest.raises(ApiException) as caught:
        api.get_rich_menu(linked_id)
    assert caught.value.status == 404


def test_aliases_create_get_update_list_delete(sandbox):
    api = sandbox.messaging_api()
    first = menu_create(sandbox)
    second = menu_create(sandbox)

    api.create_rich_menu_alias(
        CreateRichMenuAliasRequest(rich_menu_alias_id="unlinked", rich_menu_id=first)
    )
    api.update_rich_menu_alias("unlinked", UpdateRichMenuAliasRequest(rich_menu_id=second))
    fetched = api.get_rich_menu_alias("unlinked")
    listed = api.get_rich_menu_alias_list().aliases
    api.delete_rich_menu_alias("unlinked")

    assert fetched.rich_menu_id == second
    assert [(a.rich_menu_alias_id, a.rich_menu_id) for a in listed] == [("unlinked", second)]
    with pytest.raises(ApiException) as caught:
        api.get_rich_menu_alias("unlinked")
    assert caught.value.status == 404
    assert body_of(caught.value) == {"message": "richmenu alias not found", "details": []}


def test_alias_conflicts_and_imageless_menus_are_refused(sandbox):
    api = sandbox.messaging_api()
    with_image = menu_create(sandbox)
    without_image = menu_create(sandbox, with_image=False)
    api.create_rich_menu_alias(
        CreateRichMenuAliasRequest(rich_menu_alias_id="linked", rich_menu_id=with_image)
    )

    with pytest.raises(ApiException) as duplicate:
        api.create_rich_menu_alias(
            CreateRichMenuAliasRequest(rich_menu_alias_id="linked", rich_menu_id=with_image)
        )
    with pytest.raises(ApiException) as imageless:
        api.create_rich_menu_alias(
            CreateRichMenuAliasRequest(rich_menu_alias_id="other", rich_menu_id=without_image)
        )
    bad_id = sandbox.api(
        "POST",
        "/v2/bot/richmenu/alias",
        json={"richMenuAliasId": "Bad ID!", "richMenuId": with_image},
    )

    assert body_of(duplicate.value) == {"message": "conflict richmenu alias id", "details": []}
    assert body_of(imageless.value) == {"message": "richmenu not found", "details": []}
    assert bad_id.status_code == 400
    assert bad_id.json()["details"] == [
        {"message": "invalid richMenuAliasId", "property": "richMenuAliasId"}
    ]
