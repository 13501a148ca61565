"""Rich menu endpoints: menus, images (api-data host), default, per-user links, aliases."""

from django.http import HttpRequest

from line_sandbox import channel
from line_sandbox.views.base import LineReply, json_body, line_endpoint


@line_endpoint(methods=("POST",))
def rich_menu_create(request: HttpRequest) -> dict:
    return channel.rich_menu_create(json_body(request))


@line_endpoint(methods=("POST",))
def rich_menu_validate(request: HttpRequest) -> dict:
    return channel.rich_menu_check(json_body(request))


@line_endpoint(methods=("GET",))
def rich_menu_list(request: HttpRequest) -> dict:
    return channel.rich_menu_list()


@line_endpoint(methods=("GET", "DELETE"))
def rich_menu_detail(request: HttpRequest, rich_menu_id: str) -> dict:
    if request.method == "DELETE":
        return channel.rich_menu_delete(rich_menu_id)
    return channel.rich_menu_get(rich_menu_id)


@line_endpoint(methods=("GET", "POST"), host="api-data")
def rich_menu_content(request: HttpRequest, rich_menu_id: str) -> LineReply | dict:
    if request.method == "POST":
        return channel.rich_menu_image_set(rich_menu_id, request.content_type or "", request.body)
    data, content_type = channel.rich_menu_image_get(rich_menu_id)
    return LineReply(data, content_type=content_type)


@line_endpoint(methods=("POST",))
def default_rich_menu_set(request: HttpRequest, rich_menu_id: str) -> dict:
    return channel.default_rich_menu_set(rich_menu_id)


@line_endpoint(methods=("GET", "DELETE"))
def default_rich_menu(request: HttpRequest) -> dict:
    if request.method == "DELETE":
        return channel.default_rich_menu_clear()
    return channel.default_rich_menu_get()


@line_endpoint(methods=("POST",))
def user_rich_menu_link(request: HttpRequest, user_id: str, rich_menu_id: str) -> dict:
    return channel.user_rich_menu_link(user_id, rich_menu_id)


@line_endpoint(methods=("GET", "DELETE"))
def user_rich_menu(request: HttpRequest, user_id: str) -> dict:
    if request.method == "DELETE":
        return channel.user_rich_menu_unlink(user_id)
    return channel.user_rich_menu_get(user_id)


@line_endpoint(methods=("POST",))
def bulk_link(request: HttpRequest) -> LineReply:
    return LineReply(channel.rich_menu_bulk_link(json_body(request)), status=202)


@line_endpoint(methods=("POST",))
def bulk_unlink(request: HttpRequest) -> LineReply:
    return LineReply(channel.rich_menu_bulk_unlink(json_body(request)), status=202)


@line_endpoint(methods=("POST",))
def alias_create(request: HttpRequest) -> dict:
    return channel.rich_menu_alias_create(json_body(request))


@line_endpoint(methods=("GET",))
def alias_list(request: HttpRequest) -> dict:
    return channel.rich_menu_alias_list()


@line_endpoint(methods=("GET", "POST", "DELETE"))
def alias_detail(request: HttpRequest, alias_id: str) -> dict:
    if request.method == "POST":
        return channel.rich_menu_alias_update(alias_id, json_body(request))
    if request.method == "DELETE":
        return channel.rich_menu_alias_delete(alias_id)
    return channel.rich_menu_alias_get(alias_id)
