"""State of the LINE sandbox: LINE users, rich menus, sent messages, webhooks, tokens.

Everything lives in the database so the web server, the delivery worker and the tests (which
run the server in another thread) all see the same LINE Platform.
"""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class FriendStatus(models.TextChoices):
    NONE = "none", _("未追加")
    FRIEND = "friend", _("友だち")
    BLOCKED = "blocked", _("ブロック中")


class MessageDirection(models.TextChoices):
    BOT = "bot", _("公式アカウント → ユーザー")
    USER = "user", _("ユーザー → 公式アカウント")
    SYSTEM = "system", _("操作")


class SandboxRichMenu(models.Model):
    """A rich menu created through the Messaging API (``richmenu-`` + 32 hex)."""

    rich_menu_id = models.CharField(max_length=41, unique=True)
    name = models.CharField(max_length=300)
    chat_bar_text = models.CharField(max_length=14)
    selected = models.BooleanField(default=False)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    areas = models.JSONField(default=list)
    image = models.BinaryField(null=True, editable=False)
    image_content_type = models.CharField(max_length=32, blank=True)
    is_default = models.BooleanField(_("デフォルト"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("リッチメニュー")
        verbose_name_plural = _("リッチメニュー")
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True),
                name="sandboxrichmenu_one_default",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rich_menu_id} {self.name}"

    @property
    def has_image(self) -> bool:
        return self.image is not None

    def as_line_dict(self) -> dict:
        """The rich menu response object, as LINE returns it."""
        return {
            "richMenuId": self.rich_menu_id,
            "size": {"width": self.width, "height": self.height},
            "selected": self.selected,
            "name": self.name,
            "chatBarText": self.chat_bar_text,
            "areas": self.areas,
        }


class SandboxRichMenuAlias(models.Model):
    # A plain ID, not a foreign key: LINE keeps an alias whose menu was deleted and reports
    # RICHMENU_NOTFOUND when a switch action uses it.
    alias_id = models.CharField(max_length=32, unique=True)
    rich_menu_id = models.CharField(max_length=41)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("リッチメニューエイリアス")
        verbose_name_plural = _("リッチメニューエイリアス")

    def __str__(self) -> str:
        return f"{self.alias_id} → {self.rich_menu_id}"


class SandboxUser(models.Model):
    """A LINE user of the sandbox (``U`` + 32 lowercase hex), and their friendship."""

    user_id = models.CharField(max_length=33, unique=True)
    display_name = models.CharField(_("表示名"), max_length=64)
    status_message = models.CharField(max_length=200, blank=True)
    language = models.CharField(max_length=8, default="ja")
    friend_status = models.CharField(
        _("友だち状態"), max_length=8, choices=FriendStatus.choices, default=FriendStatus.NONE
    )
    # The per-user rich menu set through the API; None means the default menu applies.
    rich_menu = models.ForeignKey(
        SandboxRichMenu,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="linked_users",
    )
    # What the chat shows after a rich menu switch action, until the API changes the menu.
    switched_rich_menu = models.ForeignKey(
        SandboxRichMenu, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("LINEユーザー")
        verbose_name_plural = _("LINEユーザー")

    def __str__(self) -> str:
        return f"{self.display_name} ({self.user_id})"

    @property
    def is_friend(self) -> bool:
        return self.friend_status == FriendStatus.FRIEND


class SandboxMessage(models.Model):
    """One line of a user's chat: a message the bot sent them, or one they sent."""

    user = models.ForeignKey(SandboxUser, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=8, choices=MessageDirection.choices)
    # reply / push / multicast / broadcast / narrowcast for the bot; text / postback for the
    # user; follow / unfollow / link for operations.
    source = models.CharField(max_length=16)
    message_id = models.CharField(max_length=24, blank=True)
    payload = models.JSONField(default=dict)
    # LINE answers 200 for a blocked user or a non-friend but never shows them the message.
    delivered = models.BooleanField(default=True)
    request_id = models.CharField(max_length=36, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("トーク")
        verbose_name_plural = _("トーク")

    def __str__(self) -> str:
        return f"{self.user.user_id} {self.direction} {self.source}"


class SandboxWebhookEvent(models.Model):
    """A webhook event the sandbox sent, kept so it can be redelivered unchanged."""

    webhook_event_id = models.CharField(max_length=26, unique=True)
    event_type = models.CharField(max_length=32)
    user = models.ForeignKey(
        SandboxUser, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    event = models.JSONField()
    # The exact bytes of the last delivery (the signature covers them).
    body = models.TextField()
    # HTTP status of the last delivery; 0 when no response came back.
    response_status = models.IntegerField(null=True, blank=True)
    delivery_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    last_delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("Webhookイベント")
        verbose_name_plural = _("Webhookイベント")

    def __str__(self) -> str:
        return f"{self.webhook_event_id} {self.event_type}"


class SandboxReplyToken(models.Model):
    token = models.CharField(max_length=32, unique=True)
    user = models.ForeignKey(SandboxUser, on_delete=models.CASCADE, related_name="+")
    event = models.ForeignKey(
        SandboxWebhookEvent, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("リプライトークン")
        verbose_name_plural = _("リプライトークン")

    def __str__(self) -> str:
        return self.token


class SandboxLinkToken(models.Model):
    token = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(SandboxUser, on_delete=models.CASCADE, related_name="+")
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("連携トークン")
        verbose_name_plural = _("連携トークン")

    def __str__(self) -> str:
        return self.token


class SandboxRetryKey(models.Model):
    """An accepted ``X-Line-Retry-Key``: repeats within 24 hours answer 409."""

    key = models.CharField(max_length=36, unique=True)
    endpoint = models.CharField(max_length=64)
    accepted_request_id = models.CharField(max_length=36)
    # The accepted answer's body; a push retry gets its sentMessages back with the 409.
    response = models.JSONField(default=dict)
    accepted_at = models.DateTimeField()

    class Meta:
        verbose_name = _("リトライキー")
        verbose_name_plural = _("リトライキー")

    def __str__(self) -> str:
        return self.key


class SandboxApiCall(models.Model):
    """Every call made to the sandbox's LINE APIs, for tests and for looking back."""

    request_id = models.CharField(max_length=36)
    method = models.CharField(max_length=8)
    host = models.CharField(max_length=8)  # api / api-data
    path = models.CharField(max_length=255, db_index=True)
    status = models.PositiveSmallIntegerField()
    request_body = models.TextField(blank=True)
    response_body = models.TextField(blank=True)
    retry_key = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("API呼び出し")
        verbose_name_plural = _("API呼び出し")

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.status}"


class SandboxFault(models.Model):
    """Injected trouble: fail the next ``remaining`` matching calls and/or slow them down."""

    status = models.PositiveSmallIntegerField(null=True, blank=True, help_text="空なら遅延のみ")
    remaining = models.PositiveIntegerField(null=True, blank=True, help_text="空なら解除まで")
    path_prefix = models.CharField(max_length=255, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    message = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("障害注入")
        verbose_name_plural = _("障害注入")

    def __str__(self) -> str:
        return f"{self.status or '-'} x{self.remaining} {self.path_prefix} +{self.latency_ms}ms"


class SandboxIdToken(models.Model):
    """An ID token the sandbox issued; verification only accepts tokens found here."""

    token_hash = models.CharField(max_length=64, unique=True)
    user_id = models.CharField(max_length=33)
    claims = models.JSONField()
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("IDトークン")
        verbose_name_plural = _("IDトークン")

    def __str__(self) -> str:
        return f"{self.user_id} {self.expires_at:%Y-%m-%d %H:%M}"
