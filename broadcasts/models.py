"""Segments, campaign messages (``Broadcast``) and step messages HQ defines in /hq/.

- ``Segment``: a saved filter over members (tier, gender, age, area, dates, purchases,
  points). ``broadcasts.selectors.segment_members`` turns it into one queryset.
- ``Broadcast``: a message to a segment, scheduled and then materialised by the background
  job (``run_message_jobs``) into ``BroadcastBatch`` rows of at most 500 recipients, each
  written with its outbox multicast row in one transaction.
- ``BroadcastRecipient``: one row per member targeted (see the class for why).
- ``StepMessage`` / ``StepMessageDelivery``: marketing messages N days after a member's
  first purchase, sent once per member and step.

``membership.Campaign`` already means an earning campaign, hence "Broadcast" here.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from membership.models import PREFECTURE_CHOICES, Gender


class Segment(models.Model):
    """Who a broadcast goes to. Every criterion left blank matches everyone.

    Dates are absolute (a saved segment means the same thing next month) except the purchase
    window, which is "the last N days" so a segment like "bought in the last 90 days" stays
    current. The window (or all time when blank) applies to purchase count, spend, stores
    visited and categories bought.
    """

    name = models.CharField(_("セグメント名"), max_length=100)
    description = models.TextField(_("メモ"), blank=True)
    tiers = models.ManyToManyField(
        "membership.Tier", blank=True, related_name="+", verbose_name=_("会員ランク")
    )
    genders = models.JSONField(_("性別"), default=list, blank=True)
    age_min = models.PositiveSmallIntegerField(_("年齢(以上)"), null=True, blank=True)
    age_max = models.PositiveSmallIntegerField(_("年齢(以下)"), null=True, blank=True)
    prefectures = models.JSONField(_("都道府県"), default=list, blank=True)
    joined_from = models.DateField(_("入会日(から)"), null=True, blank=True)
    joined_to = models.DateField(_("入会日(まで)"), null=True, blank=True)
    linked_from = models.DateField(_("連携日(から)"), null=True, blank=True)
    linked_to = models.DateField(_("連携日(まで)"), null=True, blank=True)
    last_purchase_from = models.DateField(_("最終購入日(から)"), null=True, blank=True)
    last_purchase_to = models.DateField(_("最終購入日(まで)"), null=True, blank=True)
    window_days = models.PositiveIntegerField(_("購入集計期間(直近N日)"), null=True, blank=True)
    purchase_count_min = models.PositiveIntegerField(_("購入回数(以上)"), null=True, blank=True)
    purchase_count_max = models.PositiveIntegerField(_("購入回数(以下)"), null=True, blank=True)
    spend_min = models.PositiveIntegerField(_("購入金額(以上)"), null=True, blank=True)
    spend_max = models.PositiveIntegerField(_("購入金額(以下)"), null=True, blank=True)
    stores = models.ManyToManyField(
        "pos_bridge.Store", blank=True, related_name="+", verbose_name=_("来店店舗")
    )
    categories = models.JSONField(_("購入カテゴリ"), default=list, blank=True)
    balance_min = models.PositiveIntegerField(_("ポイント残高(以上)"), null=True, blank=True)
    balance_max = models.PositiveIntegerField(_("ポイント残高(以下)"), null=True, blank=True)
    expiring_within_days = models.PositiveIntegerField(
        _("失効予定ポイントあり(N日以内)"), null=True, blank=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        verbose_name = _("セグメント")
        verbose_name_plural = _("セグメント")

    def __str__(self) -> str:
        return self.name


GENDER_CHOICES = [(value, label) for value, label in Gender.choices]
SEGMENT_PREFECTURE_CHOICES = PREFECTURE_CHOICES


class BroadcastKind(models.TextChoices):
    TEXT = "text", _("テキスト")
    IMAGE = "image", _("画像")
    COUPON = "coupon", _("クーポン")


class BroadcastStatus(models.TextChoices):
    DRAFT = "draft", _("下書き")
    SCHEDULED = "scheduled", _("配信予約")
    SENDING = "sending", _("配信準備中")
    QUEUED = "queued", _("送信キュー投入済み")
    CANCELLED = "cancelled", _("取消")


class Broadcast(models.Model):
    """A campaign message to a segment. Only drafts and scheduled ones may change."""

    name = models.CharField(_("配信名"), max_length=100)
    segment = models.ForeignKey(
        Segment, on_delete=models.PROTECT, related_name="broadcasts", verbose_name=_("セグメント")
    )
    kind = models.CharField(_("種類"), max_length=16, choices=BroadcastKind.choices)
    text = models.TextField(_("本文"), blank=True)
    image_url = models.URLField(_("画像URL"), max_length=2000, blank=True)
    preview_image_url = models.URLField(_("プレビュー画像URL"), max_length=2000, blank=True)
    coupon_title = models.CharField(_("クーポン名"), max_length=40, blank=True)
    coupon_description = models.CharField(_("説明"), max_length=200, blank=True)
    coupon_code = models.CharField(_("クーポンコード"), max_length=40, blank=True)
    coupon_valid_until = models.DateField(_("有効期限"), null=True, blank=True)
    status = models.CharField(
        _("状態"), max_length=16, choices=BroadcastStatus.choices, default=BroadcastStatus.DRAFT
    )
    scheduled_at = models.DateTimeField(_("配信日時"), null=True, blank=True)
    started_at = models.DateTimeField(_("配信開始"), null=True, blank=True)
    finished_at = models.DateTimeField(_("キュー投入完了"), null=True, blank=True)
    # Progress of the background job: the segment's size when the job started, how many
    # recipients and batches are in the outbox, and where to resume (member id).
    estimated = models.PositiveIntegerField(_("対象見込み"), default=0)
    targeted = models.PositiveIntegerField(_("配信対象"), default=0)
    batches_queued = models.PositiveIntegerField(_("キュー投入済みバッチ"), default=0)
    cursor_member_id = models.BigIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("配信")
        verbose_name_plural = _("配信")
        indexes = [
            models.Index(
                fields=["scheduled_at"],
                condition=Q(status__in=["scheduled", "sending"]),
                name="broadcast_due",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_editable(self) -> bool:
        return self.status in (BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED)

    def clean(self) -> None:
        """Each kind needs its own fields; LINE only fetches images over HTTPS."""
        errors: dict[str, str] = {}
        if self.kind == BroadcastKind.TEXT:
            if not self.text.strip():
                errors["text"] = "本文を入力してください。"
            elif len(self.text.encode("utf-16-le")) // 2 > 5000:
                errors["text"] = "本文は5,000文字以内で入力してください。"
        elif self.kind == BroadcastKind.IMAGE:
            for name in ("image_url", "preview_image_url"):
                value = getattr(self, name)
                if not value:
                    errors[name] = "画像のURLを入力してください。"
                elif not value.startswith("https://"):
                    errors[name] = "画像のURLは https:// で始まるものを指定してください。"
        elif self.kind == BroadcastKind.COUPON:
            if not self.coupon_title.strip():
                errors["coupon_title"] = "クーポン名を入力してください。"
            if not self.coupon_code.strip():
                errors["coupon_code"] = "クーポンコードを入力してください。"
            if self.image_url and not self.image_url.startswith("https://"):
                errors["image_url"] = "画像のURLは https:// で始まるものを指定してください。"
        if errors:
            raise ValidationError(errors)


class BroadcastBatch(models.Model):
    """Up to 500 recipients (member ids ``first_member_id``..``last_member_id``) and the
    outbox multicast that carries them, written in one transaction: a job that crashes
    resumes after the last batch and never enqueues a batch twice (unique batch_no)."""

    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="batches")
    batch_no = models.PositiveIntegerField()
    first_member_id = models.BigIntegerField()
    last_member_id = models.BigIntegerField()
    size = models.PositiveIntegerField()
    outbox = models.OneToOneField(
        "line_messaging.OutboxMessage", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["broadcast", "batch_no"]
        constraints = [
            models.UniqueConstraint(fields=["broadcast", "batch_no"], name="broadcastbatch_once"),
            models.CheckConstraint(
                condition=Q(size__gte=1, size__lte=500), name="broadcastbatch_size_within_limit"
            ),
            models.CheckConstraint(
                condition=Q(last_member_id__gte=F("first_member_id")),
                name="broadcastbatch_range_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.broadcast_id}#{self.batch_no}"


class BroadcastRecipient(models.Model):
    """One member a broadcast targeted, and the LINE user ID it went to.

    Why a row per recipient (bulk-inserted with its batch) rather than only the batch's
    recipient list in the outbox payload: the member 360° page asks "which broadcasts did
    this LINE user get" (an indexed lookup here, a scan of every payload otherwise), and the
    delivery report counts "blocked since" by joining recipients to ``LineFriend``. At 1M
    recipients this is ~1M narrow rows per broadcast, written 500 at a time.
    """

    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="recipients")
    batch = models.ForeignKey(BroadcastBatch, on_delete=models.CASCADE, related_name="recipients")
    member = models.ForeignKey("membership.Member", on_delete=models.PROTECT, related_name="+")
    line_user_id = models.CharField(max_length=33)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["broadcast", "member"], name="broadcastrecipient_once_per_member"
            )
        ]
        indexes = [models.Index(fields=["line_user_id"], name="broadcastrecipient_user")]

    def __str__(self) -> str:
        return f"{self.broadcast_id} → {self.line_user_id}"


class StepMessage(models.Model):
    """A marketing message sent ``days_after`` days after a member's first purchase."""

    name = models.CharField(_("名称"), max_length=100)
    days_after = models.PositiveSmallIntegerField(_("初回購入から何日後"))
    template = models.TextField(_("本文"), help_text=_("差し込み項目: {name} {balance} {tier}"))
    enabled = models.BooleanField(_("送信する"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["days_after", "id"]
        verbose_name = _("ステップ配信")
        verbose_name_plural = _("ステップ配信")

    def __str__(self) -> str:
        return f"{self.name}({self.days_after}日後)"


class StepMessageDelivery(models.Model):
    """A step message queued for a member: each step reaches a member at most once."""

    step = models.ForeignKey(StepMessage, on_delete=models.CASCADE, related_name="deliveries")
    member = models.ForeignKey("membership.Member", on_delete=models.PROTECT, related_name="+")
    line_user_id = models.CharField(max_length=33)
    sent_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["step", "member"], name="stepmessagedelivery_once")
        ]

    def __str__(self) -> str:
        return f"{self.step_id} → {self.member_id}"
