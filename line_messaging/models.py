"""Everything we know about LINE users and everything we owe LINE.

- ``LineFriend``: a LINE user who added the shop's account, and the member it is linked to.
- ``LinkEvent``: the audit trail of links and unlinks (HQ counts new links by source).
- ``LinkToken`` / ``LinkNonce``: the two halves of LINE's account-link flow.
- ``LinkAttempt``: failed ownership proofs, for throttling.
- ``WebhookEvent``: every webhook event once, by ``webhookEventId``.
- ``OutboxMessage``: messages and rich-menu changes written in the same transaction as the
  change that causes them, delivered by the worker (``deliver_messages``).
- ``RichMenuDeployment``: which LINE rich menu ID currently serves each of our menus.
"""

import uuid

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class LinkSource(models.TextChoices):
    CHAT = "chat", _("トーク(リッチメニュー)")
    LIFF = "liff", _("LIFF会員証")
    POSTER = "poster", _("店頭ポスター")


class LineFriend(models.Model):
    user_id = models.CharField(_("LINEユーザーID"), max_length=33, unique=True)
    display_name = models.CharField(_("表示名"), max_length=128, blank=True)
    is_blocked = models.BooleanField(_("ブロック中"), default=False)
    followed_at = models.DateTimeField(_("友だち追加日時"), null=True, blank=True)
    blocked_at = models.DateTimeField(_("ブロック日時"), null=True, blank=True)
    # Webhooks arrive in any order: a follow/unfollow older than this one is ignored.
    follow_state_timestamp = models.BigIntegerField(default=0)
    member = models.OneToOneField(
        "membership.Member",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="line_friend",
        verbose_name=_("連携会員"),
    )
    linked_at = models.DateTimeField(_("連携日時"), null=True, blank=True)
    # Campaigns (marketing) go only to friends who have not opted out on the card page;
    # receipts and other account messages ignore it.
    marketing_opt_in = models.BooleanField(_("お知らせ配信を受け取る"), default=True)
    link_source = models.CharField(
        _("連携経路"), max_length=16, choices=LinkSource.choices, blank=True
    )
    # The store whose poster brought this friend in (set from the poster's link).
    acquired_store = models.ForeignKey(
        "pos_bridge.Store",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("獲得店舗"),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("LINE友だち")
        verbose_name_plural = _("LINE友だち")
        indexes = [models.Index(fields=["is_blocked", "member"], name="linefriend_state")]

    def __str__(self) -> str:
        return self.display_name or self.user_id

    @property
    def is_linked(self) -> bool:
        return self.member_id is not None


class LinkAction(models.TextChoices):
    LINKED = "linked", _("連携")
    UNLINKED = "unlinked", _("連携解除")


class LinkEvent(models.Model):
    friend = models.ForeignKey(LineFriend, on_delete=models.PROTECT, related_name="link_events")
    member = models.ForeignKey(
        "membership.Member", on_delete=models.PROTECT, related_name="link_events"
    )
    action = models.CharField(max_length=16, choices=LinkAction.choices)
    source = models.CharField(max_length=16, choices=LinkSource.choices, blank=True)
    store = models.ForeignKey(
        "pos_bridge.Store", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    occurred_at = models.DateTimeField()

    class Meta:
        ordering = ["-occurred_at"]
        verbose_name = _("連携履歴")
        verbose_name_plural = _("連携履歴")
        indexes = [models.Index(fields=["action", "occurred_at"], name="linkevent_action_time")]

    def __str__(self) -> str:
        return f"{self.friend_id} {self.action} {self.member_id}"


class LinkToken(models.Model):
    """A LINE link token we obtained for a user: who it belongs to and until when."""

    token_hash = models.CharField(max_length=64, unique=True)
    line_user_id = models.CharField(max_length=33)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"link token for {self.line_user_id}"


class LinkNonce(models.Model):
    """The nonce we hand LINE with a link token; LINE returns it in the accountLink event.

    Bound to the member who proved ownership and to the LINE user the token was issued to;
    single use; expires with the token. Only its hash is stored.
    """

    nonce_hash = models.CharField(max_length=64, unique=True)
    line_user_id = models.CharField(max_length=33)
    member = models.ForeignKey("membership.Member", on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=16, choices=LinkSource.choices)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"nonce for {self.line_user_id} -> member {self.member_id}"


class LinkAttempt(models.Model):
    """A failed ownership proof (wrong card number or birth date), for throttling."""

    scope = models.CharField(max_length=16)  # "token", "card", "ip"
    key_hash = models.CharField(max_length=64)
    attempted_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["scope", "key_hash", "attempted_at"], name="linkattempt_lookup")
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.attempted_at}"


class WebhookEvent(models.Model):
    webhook_event_id = models.CharField(max_length=64, unique=True)
    event_type = models.CharField(max_length=32)
    line_user_id = models.CharField(max_length=33, blank=True)
    timestamp = models.BigIntegerField(help_text="LINE's event time in milliseconds")
    is_redelivery = models.BooleanField(default=False)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("Webhookイベント")
        verbose_name_plural = _("Webhookイベント")
        indexes = [
            models.Index(
                fields=["received_at"],
                condition=Q(processed_at__isnull=True),
                name="webhookevent_unprocessed",
            ),
            # A member's follow/block history on the HQ member page.
            models.Index(fields=["line_user_id", "timestamp"], name="webhookevent_user_time"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.webhook_event_id}"


class OutboxKind(models.TextChoices):
    REPLY = "reply", _("応答メッセージ")
    PUSH = "push", _("プッシュメッセージ")
    MULTICAST = "multicast", _("マルチキャスト")
    LINK_TOKEN = "link_token", _("連携URLの発行")
    RICHMENU_LINK = "richmenu_link", _("リッチメニュー切替")
    RICHMENU_UNLINK = "richmenu_unlink", _("リッチメニュー解除")


class OutboxState(models.TextChoices):
    PENDING = "pending", _("送信待ち")
    SENT = "sent", _("送信済み")
    FAILED = "failed", _("送信失敗")
    SKIPPED = "skipped", _("送信せず(ブロック等)")


class OutboxMessage(models.Model):
    kind = models.CharField(_("種別"), max_length=16, choices=OutboxKind.choices)
    # One user for per-user kinds; multicast recipients live in the payload.
    line_user_id = models.CharField(max_length=33, blank=True)
    payload = models.JSONField(default=dict)
    purpose = models.CharField(_("目的"), max_length=32, blank=True)
    # Sent as X-Line-Retry-Key: a retry after LINE accepted the first try gets 409.
    retry_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    state = models.CharField(
        _("状態"), max_length=16, choices=OutboxState.choices, default=OutboxState.PENDING
    )
    attempts = models.PositiveIntegerField(_("試行回数"), default=0)
    next_attempt_at = models.DateTimeField()
    # A worker holds a row while delivering it; a crashed worker's rows come back afterwards.
    locked_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(_("エラー"), blank=True)
    # Multicast only: recipients left out because they had blocked the account (their IDs
    # are in payload["skipped"]); kept as a number so reports need not read the payloads.
    recipients_skipped = models.PositiveIntegerField(_("送信しなかった宛先数"), default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("送信キュー")
        verbose_name_plural = _("送信キュー")
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=Q(state="pending"),
                name="outbox_due",
            ),
            # Messages sent to one user: the HQ member page and redaction on withdrawal.
            models.Index(fields=["line_user_id", "id"], name="outbox_user"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.line_user_id or ''} ({self.state})"


class RichMenuDeployment(models.Model):
    name = models.CharField(max_length=32, unique=True)  # "unlinked" / "linked"
    rich_menu_id = models.CharField(max_length=64)
    alias_id = models.CharField(max_length=32)
    # Hash of the definition and image; a change means deploy creates a new menu.
    content_hash = models.CharField(max_length=64)
    deployed_at = models.DateTimeField()

    class Meta:
        verbose_name = _("リッチメニュー")
        verbose_name_plural = _("リッチメニュー")

    def __str__(self) -> str:
        return f"{self.name}: {self.rich_menu_id}"


class RichMenuImage(models.Model):
    """An image HQ uploaded to replace the generated one for a menu."""

    name = models.CharField(
        _("メニュー"),
        max_length=32,
        unique=True,
        choices=[("unlinked", _("未連携ユーザー向け")), ("linked", _("連携済みユーザー向け"))],
    )
    image = models.BinaryField(_("画像"), editable=False)
    content_type = models.CharField(max_length=32)
    uploaded_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("リッチメニュー画像")
        verbose_name_plural = _("リッチメニュー画像")

    def __str__(self) -> str:
        return self.name


class Trigger(models.TextChoices):
    PURCHASE_RECEIPT = "purchase_receipt", _("お買い上げレシート")
    POINTS_EXPIRING = "points_expiring", _("ポイント失効予告")
    TIER_UP = "tier_up", _("会員ランクアップ")
    LINK_WELCOME = "link_welcome", _("会員連携完了")


class TriggeredMessage(models.Model):
    """The text HQ sets for a message sent automatically by an event; one row per trigger.

    Receipts, expiry reminders, tier-ups and link welcomes are account messages, not
    marketing: a shopper's marketing opt-out does not stop them.
    """

    trigger = models.CharField(_("トリガー"), max_length=32, choices=Trigger.choices, unique=True)
    enabled = models.BooleanField(_("送信する"), default=True)
    template = models.TextField(
        _("本文"),
        help_text=_(
            "{name} のような差し込み項目が使えます。使える項目はトリガーごとに異なります。"
        ),
    )
    days_before = models.PositiveSmallIntegerField(
        _("何日前に送るか"),
        default=30,
        help_text=_("ポイント失効予告のみ: 有効期限のこの日数前から予告します。"),
    )
    updated_at = models.DateTimeField(_("更新日時"), auto_now=True)

    class Meta:
        verbose_name = _("自動送信メッセージ")
        verbose_name_plural = _("自動送信メッセージ")

    def __str__(self) -> str:
        return self.get_trigger_display()

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from line_messaging.services.triggers import TemplateInvalid, template_check

        try:
            template_check(trigger=self.trigger, template=self.template)
        except TemplateInvalid as exc:
            raise ValidationError({"template": str(exc)}) from exc


class ExpiryReminder(models.Model):
    """A points-expiring reminder sent to a member for one expiry date: each date is
    reminded once, however often ``send_expiry_reminders`` runs."""

    member = models.ForeignKey(
        "membership.Member", on_delete=models.CASCADE, related_name="+", verbose_name=_("会員")
    )
    expires_on = models.DateField(_("有効期限"))
    points = models.PositiveIntegerField(_("失効予定ポイント"))
    sent_at = models.DateTimeField(_("送信日時"))

    class Meta:
        verbose_name = _("失効予告の送信記録")
        verbose_name_plural = _("失効予告の送信記録")
        constraints = [
            models.UniqueConstraint(
                fields=["member", "expires_on"], name="expiryreminder_once_per_date"
            )
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.expires_on}"


class RateSlot(models.Model):
    """How many calls of one rate-limited kind (``bucket``) went to LINE in one second.

    Shared by every worker through the database, so several ``deliver_messages`` processes
    together stay under LINE's per-channel limit (multicast: 200 requests/s).
    """

    bucket = models.CharField(max_length=32)
    second = models.BigIntegerField(help_text="Unix time, whole seconds")
    used = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bucket", "second"], name="rateslot_once_per_second")
        ]

    def __str__(self) -> str:
        return f"{self.bucket}@{self.second}: {self.used}"
