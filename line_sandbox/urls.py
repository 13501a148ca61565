"""URLs of the LINE sandbox, mounted at ``/line-sandbox/``.

``api/`` stands in for https://api.line.me, ``api-data/`` for https://api-data.line.me and
``access/`` for https://access.line.me; ``control/`` serves the chat simulator page.
"""

from django.urls import include, path, re_path

from line_sandbox.views import access, login, messaging, richmenus, simulator

app_name = "line_sandbox"

api_patterns = [
    path("v2/bot/message/reply", messaging.reply, name="reply"),
    path("v2/bot/message/push", messaging.push, name="push"),
    path("v2/bot/message/multicast", messaging.multicast, name="multicast"),
    path("v2/bot/message/broadcast", messaging.broadcast, name="broadcast"),
    path("v2/bot/message/narrowcast", messaging.narrowcast, name="narrowcast"),
    path("v2/bot/message/validate/<str:kind>", messaging.validate_messages),
    path("v2/bot/profile/<str:user_id>", messaging.profile, name="profile"),
    path("v2/bot/followers/ids", messaging.followers_ids),
    path("v2/bot/info", messaging.bot_info),
    path("v2/bot/user/<str:user_id>/linkToken", messaging.link_token, name="link_token"),
    path("v2/bot/richmenu", richmenus.rich_menu_create),
    path("v2/bot/richmenu/validate", richmenus.rich_menu_validate),
    path("v2/bot/richmenu/list", richmenus.rich_menu_list),
    path("v2/bot/richmenu/bulk/link", richmenus.bulk_link),
    path("v2/bot/richmenu/bulk/unlink", richmenus.bulk_unlink),
    path("v2/bot/richmenu/alias", richmenus.alias_create),
    path("v2/bot/richmenu/alias/list", richmenus.alias_list),
    path("v2/bot/richmenu/alias/<str:alias_id>", richmenus.alias_detail),
    path("v2/bot/richmenu/<str:rich_menu_id>", richmenus.rich_menu_detail),
    path("v2/bot/user/all/richmenu", richmenus.default_rich_menu),
    path("v2/bot/user/all/richmenu/<str:rich_menu_id>", richmenus.default_rich_menu_set),
    path("v2/bot/user/<str:user_id>/richmenu", richmenus.user_rich_menu),
    path("v2/bot/user/<str:user_id>/richmenu/<str:rich_menu_id>", richmenus.user_rich_menu_link),
    path("oauth2/v2.1/verify", login.verify_id_token, name="verify_id_token"),
    re_path(r"^(?P<rest>.*)$", messaging.unknown),
]

api_data_patterns = [
    path("v2/bot/richmenu/<str:rich_menu_id>/content", richmenus.rich_menu_content),
    re_path(r"^(?P<rest>.*)$", messaging.unknown),
]

control_patterns = [
    path("users", simulator.users, name="control_users"),
    path("users/<str:user_id>", simulator.user_state, name="control_user_state"),
    path("users/<str:user_id>/follow", simulator.user_follow),
    path("users/<str:user_id>/unfollow", simulator.user_unfollow),
    path("users/<str:user_id>/text", simulator.user_text),
    path("users/<str:user_id>/action", simulator.user_action),
    path("users/<str:user_id>/id-token", simulator.user_id_token),
    path(
        "richmenus/<str:rich_menu_id>/image",
        simulator.rich_menu_image,
        name="control_rich_menu_image",
    ),
    path("events/<str:event_id>/redeliver", simulator.event_redeliver),
    path("faults", simulator.faults),
]

urlpatterns = [
    path("", simulator.simulator_page, name="simulator"),
    path("api/", include(api_patterns)),
    path("api-data/", include(api_data_patterns)),
    path(
        "access/dialog/bot/accountLink",
        access.account_link_dialog,
        name="account_link_dialog",
    ),
    path("control/", include(control_patterns)),
]
