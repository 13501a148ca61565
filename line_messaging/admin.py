from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from PIL import Image

from audit.admin import AuditedAdminMixin
from common.admin import ReadOnlyAdmin
from line_messaging.models import (
    LineFriend,
    LinkEvent,
    OutboxMessage,
    OutboxState,
    RichMenuDeployment,
    RichMenuImage,
    TriggeredMessage,
    WebhookEvent,
)
from line_messaging.services.richmenus import HEIGHT, WIDTH
from line_messaging.services.triggers import PLACEHOLDERS


@admin.register(LineFriend)
class LineFriendAdmin(ReadOnlyAdmin):
    list_display = [
        "user_id",
        "display_name",
        "member",
        "link_source",
        "linked_at",
        "is_blocked",
        "marketing_opt_in",
        "followed_at",
    ]
    list_filter = ["is_blocked", "link_source", "marketing_opt_in"]
    search_fields = ["user_id", "display_name", "member__card_number"]
    list_select_related = ["member"]
    show_full_result_count = False


@admin.register(LinkEvent)
class LinkEventAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "action", "source", "store", "friend", "member"]
    list_filter = ["action", "source", "store"]
    list_select_related = ["friend", "member", "store"]


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = [
        "received_at",
        "event_type",
        "line_user_id",
        "is_redelivery",
        "processed_at",
        "error",
    ]
    list_filter = ["event_type", "is_redelivery"]
    search_fields = ["webhook_event_id", "line_user_id"]


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "kind",
        "purpose",
        "line_user_id",
        "state",
        "attempts",
        "next_attempt_at",
        "last_error",
    ]
    list_filter = ["state", "kind", "purpose"]
    search_fields = ["line_user_id"]
    actions = ["retry_now"]

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.action(description=_("選択した失敗メッセージを再送する"))
    def retry_now(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        count = queryset.filter(state=OutboxState.FAILED).update(
            state=OutboxState.PENDING, next_attempt_at=timezone.now(), attempts=0, locked_until=None
        )
        self.message_user(request, _("%(n)d 件を再送キューに戻しました。") % {"n": count})


@admin.register(RichMenuDeployment)
class RichMenuDeploymentAdmin(ReadOnlyAdmin):
    list_display = ["name", "rich_menu_id", "alias_id", "deployed_at"]


class RichMenuImageForm(forms.ModelForm):
    upload = forms.ImageField(
        label=_("画像ファイル"),
        help_text=_("PNG または JPEG、%(w)d×%(h)d ピクセル、1MB 以下") % {"w": WIDTH, "h": HEIGHT},
    )

    class Meta:
        model = RichMenuImage
        fields = ["name"]

    def clean_upload(self):
        upload = self.cleaned_data["upload"]
        if upload.size > 1024 * 1024:
            raise forms.ValidationError(_("1MB 以下の画像にしてください。"))
        image = Image.open(upload)
        if image.format not in ("PNG", "JPEG"):
            raise forms.ValidationError(_("PNG または JPEG の画像にしてください。"))
        if image.size != (WIDTH, HEIGHT):
            raise forms.ValidationError(
                _("画像サイズは %(w)d×%(h)d ピクセルにしてください。") % {"w": WIDTH, "h": HEIGHT}
            )
        upload.seek(0)
        return upload


@admin.register(RichMenuImage)
class RichMenuImageAdmin(AuditedAdminMixin):
    form = RichMenuImageForm
    list_display = ["name", "content_type", "uploaded_at"]

    def save_model(self, request, obj, form, change):
        upload = form.cleaned_data["upload"]
        obj.image = upload.read()
        obj.content_type = "image/png" if Image.open(upload).format == "PNG" else "image/jpeg"
        super().save_model(request, obj, form, change)
        messages.info(request, _("反映するには `manage.py richmenu_deploy` を実行してください。"))


@admin.register(TriggeredMessage)
class TriggeredMessageAdmin(AuditedAdminMixin):
    """HQ switches and edits the automatic messages; the rows themselves are fixed (one per
    trigger, created by a migration). The model's ``clean`` refuses unknown placeholders."""

    list_display = ["trigger", "enabled", "days_before", "updated_at"]
    list_editable = ["enabled"]
    fields = ["trigger", "enabled", "template", "placeholders", "days_before"]
    readonly_fields = ["trigger", "placeholders"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description=_("使える差し込み項目"))
    def placeholders(self, obj: TriggeredMessage) -> str:
        return " ".join(f"{{{name}}}" for name in PLACEHOLDERS.get(obj.trigger, ()))
