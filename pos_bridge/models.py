"""Stores, POS terminals, store staff, purchases, refunds and idempotency records."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from membership.models import PREFECTURE_CHOICES


class Store(models.Model):
    code = models.SlugField(_("店舗コード"), max_length=32, unique=True)
    name = models.CharField(_("店舗名"), max_length=128)
    prefecture = models.CharField(
        _("都道府県"), max_length=8, choices=PREFECTURE_CHOICES, blank=True
    )
    active = models.BooleanField(_("営業中"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("店舗")
        verbose_name_plural = _("店舗")

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class TerminalKind(models.TextChoices):
    POS = "pos", _("POS端末")
    # The staff scanner pages (/staff/) of one store record through this terminal, so they
    # share the POS API's idempotency records and services. Nobody holds its API key.
    STAFF_WEB = "staff_web", _("スタッフ画面")


class Terminal(models.Model):
    """A POS terminal. Its API key is shown once; only a SHA-256 of it is stored.

    Keys carry 256 random bits, so a fast hash is enough (no password stretching needed);
    ``key_prefix`` finds the row without scanning, the hash comparison is constant time.
    """

    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="terminals")
    name = models.CharField(_("端末名"), max_length=64)
    kind = models.CharField(
        _("種別"), max_length=16, choices=TerminalKind.choices, default=TerminalKind.POS
    )
    key_prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(_("無効化日時"), null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["store", "name"]
        verbose_name = _("POS端末")
        verbose_name_plural = _("POS端末")
        constraints = [
            models.UniqueConstraint(
                fields=["store"],
                condition=Q(kind="staff_web"),
                name="terminal_one_staff_web_per_store",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.store.code}/{self.name}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class StaffRole(models.TextChoices):
    STORE_MANAGER = "store_manager", _("店長")
    STORE_STAFF = "store_staff", _("店舗スタッフ")


class StaffMember(models.Model):
    """A login that may use the staff scanner (/staff/), for exactly one store."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="staff_member",
        verbose_name=_("ユーザー"),
    )
    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="staff_members", verbose_name=_("店舗")
    )
    role = models.CharField(
        _("役割"), max_length=16, choices=StaffRole.choices, default=StaffRole.STORE_STAFF
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["store", "user"]
        verbose_name = _("店舗スタッフ")
        verbose_name_plural = _("店舗スタッフ")

    def __str__(self) -> str:
        return f"{self.user} ({self.store.code})"


class Purchase(models.Model):
    """A sale recorded once per (store, receipt number). Totals are yen, tax included."""

    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="purchases")
    terminal = models.ForeignKey(Terminal, on_delete=models.PROTECT, related_name="purchases")
    receipt_number = models.CharField(_("レシート番号"), max_length=64)
    occurred_at = models.DateTimeField(_("購入日時"))
    total = models.PositiveIntegerField(_("合計(税込)"))
    member = models.ForeignKey(
        "membership.Member",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="purchases",
        verbose_name=_("会員"),
    )
    identified_by = models.CharField(
        _("会員の確認方法"), max_length=16, blank=True, help_text="card_code / card_number"
    )
    points_redeemed = models.PositiveIntegerField(_("利用ポイント"), default=0)
    points_earned = models.PositiveIntegerField(_("付与ポイント"), default=0)
    # Running totals over this purchase's refunds; each refund row holds its own share.
    refunded_amount = models.PositiveIntegerField(_("返品額"), default=0)
    points_reversed = models.PositiveIntegerField(_("取消ポイント"), default=0)
    points_restored = models.PositiveIntegerField(_("返還ポイント"), default=0)
    points_unrecovered = models.PositiveIntegerField(_("回収不能ポイント"), default=0)
    # The staff member who keyed it in on the staff scanner; empty for POS API sales.
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("登録スタッフ"),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at"]
        verbose_name = _("購入")
        verbose_name_plural = _("購入")
        indexes = [
            # Segments aggregate a member's spend in a window (broadcasts.selectors): the
            # included columns let PostgreSQL answer from the index alone.
            models.Index(
                fields=["member", "occurred_at"],
                include=["total", "refunded_amount"],
                name="purchase_member_time_cover",
            ),
            models.Index(fields=["store", "occurred_at"], name="purchase_store_time"),
            # HQ purchase lists over all stores: a period and keyset paging on (time, id).
            models.Index(fields=["occurred_at", "id"], name="purchase_time"),
            # Dashboard roll-ups find the sales recorded since their last run (POS may send
            # a sale days after it happened).
            models.Index(fields=["created_at"], name="purchase_created"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "receipt_number"], name="purchase_receipt_unique_per_store"
            ),
            models.CheckConstraint(
                condition=Q(points_redeemed__lte=F("total")),
                name="purchase_redeemed_within_total",
            ),
            models.CheckConstraint(
                condition=Q(refunded_amount__lte=F("total")),
                name="purchase_refunded_within_total",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.store.code} #{self.receipt_number}"

    @property
    def refundable_amount(self) -> int:
        return self.total - self.refunded_amount

    @property
    def paid_in_money(self) -> int:
        return self.total - self.points_redeemed


class PurchaseItem(models.Model):
    purchase = models.ForeignKey(Purchase, on_delete=models.CASCADE, related_name="items")
    sku = models.CharField(_("SKU"), max_length=64)
    name = models.CharField(_("商品名"), max_length=255, blank=True)
    category = models.CharField(_("カテゴリ"), max_length=64, blank=True)
    quantity = models.PositiveIntegerField(_("数量"))
    unit_price = models.PositiveIntegerField(_("単価(税込)"))

    class Meta:
        verbose_name = _("購入明細")
        verbose_name_plural = _("購入明細")

    def __str__(self) -> str:
        return f"{self.sku} x{self.quantity}"

    @property
    def amount(self) -> int:
        return self.quantity * self.unit_price


class Refund(models.Model):
    purchase = models.ForeignKey(Purchase, on_delete=models.PROTECT, related_name="refunds")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="refunds")
    terminal = models.ForeignKey(Terminal, on_delete=models.PROTECT, related_name="refunds")
    refund_receipt_number = models.CharField(_("返品レシート番号"), max_length=64)
    amount = models.PositiveIntegerField(_("返品額"))
    occurred_at = models.DateTimeField(_("返品日時"))
    points_reversed = models.PositiveIntegerField(_("取消ポイント"), default=0)
    points_restored = models.PositiveIntegerField(_("返還ポイント"), default=0)
    points_unrecovered = models.PositiveIntegerField(_("回収不能ポイント"), default=0)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("登録スタッフ"),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at"]
        verbose_name = _("返品")
        verbose_name_plural = _("返品")
        # Dashboard roll-ups find the refunds recorded since their last run.
        indexes = [models.Index(fields=["created_at"], name="refund_created")]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "refund_receipt_number"], name="refund_receipt_unique_per_store"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.store.code} refund #{self.refund_receipt_number}"


class IdempotencyState(models.TextChoices):
    IN_PROGRESS = "in_progress"
    DONE = "done"


class IdempotencyRecord(models.Model):
    """Remembers a retry-able request by (terminal, key) and the response it got."""

    terminal = models.ForeignKey(Terminal, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    operation = models.CharField(max_length=64)
    request_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=IdempotencyState.choices)
    lease_expires_at = models.DateTimeField()
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True)

    class Meta:
        indexes = [models.Index(fields=["created_at"], name="idempotency_created")]
        constraints = [
            models.UniqueConstraint(
                fields=["terminal", "key"], name="idempotency_key_per_terminal"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.terminal_id}:{self.key} ({self.state})"
