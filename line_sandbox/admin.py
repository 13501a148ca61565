from django.contrib import admin

from common.admin import ReadOnlyAdmin
from line_sandbox.models import (
    SandboxApiCall,
    SandboxFault,
    SandboxIdToken,
    SandboxLinkToken,
    SandboxMessage,
    SandboxReplyToken,
    SandboxRetryKey,
    SandboxRichMenu,
    SandboxRichMenuAlias,
    SandboxUser,
    SandboxWebhookEvent,
)


@admin.register(SandboxUser)
class SandboxUserAdmin(ReadOnlyAdmin):
    list_display = ["user_id", "display_name", "friend_status", "rich_menu", "created_at"]
    list_filter = ["friend_status"]
    search_fields = ["user_id", "display_name"]


@admin.register(SandboxMessage)
class SandboxMessageAdmin(ReadOnlyAdmin):
    list_display = ["id", "user", "direction", "source", "delivered", "created_at"]
    list_filter = ["direction", "source", "delivered"]
    search_fields = ["user__user_id", "message_id", "request_id"]
    list_select_related = ["user"]


@admin.register(SandboxRichMenu)
class SandboxRichMenuAdmin(ReadOnlyAdmin):
    list_display = ["rich_menu_id", "name", "width", "height", "is_default", "created_at"]
    exclude = ["image"]


@admin.register(SandboxRichMenuAlias)
class SandboxRichMenuAliasAdmin(ReadOnlyAdmin):
    list_display = ["alias_id", "rich_menu_id", "updated_at"]


@admin.register(SandboxWebhookEvent)
class SandboxWebhookEventAdmin(ReadOnlyAdmin):
    list_display = [
        "webhook_event_id",
        "event_type",
        "user",
        "response_status",
        "delivery_count",
        "created_at",
    ]
    list_filter = ["event_type", "response_status"]
    search_fields = ["webhook_event_id", "user__user_id"]


@admin.register(SandboxApiCall)
class SandboxApiCallAdmin(ReadOnlyAdmin):
    list_display = ["id", "method", "host", "path", "status", "request_id", "created_at"]
    list_filter = ["host", "method", "status"]
    search_fields = ["path", "request_id", "retry_key"]


@admin.register(SandboxFault)
class SandboxFaultAdmin(admin.ModelAdmin):
    # Editable so faults can be switched from the admin too.
    list_display = ["id", "status", "remaining", "path_prefix", "latency_ms", "created_at"]


@admin.register(SandboxReplyToken)
class SandboxReplyTokenAdmin(ReadOnlyAdmin):
    list_display = ["token", "user", "expires_at", "used_at"]


@admin.register(SandboxLinkToken)
class SandboxLinkTokenAdmin(ReadOnlyAdmin):
    list_display = ["token", "user", "expires_at", "used_at"]


@admin.register(SandboxRetryKey)
class SandboxRetryKeyAdmin(ReadOnlyAdmin):
    list_display = ["key", "endpoint", "accepted_request_id", "accepted_at"]


@admin.register(SandboxIdToken)
class SandboxIdTokenAdmin(ReadOnlyAdmin):
    list_display = ["user_id", "expires_at", "created_at"]
