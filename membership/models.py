"""Members, tiers, earning rules, the point ledger and card codes.

The ledger is append-only. Each positive entry opens exactly one ``PointLot`` (points that
expire together); each negative entry records which lots it drew from in
``LotConsumption``. That makes three facts checkable at any time (``check_ledger``):
``points_balance == sum(entries) == sum(lot.remaining)`` and, per lot,
``remaining == points - sum(consumptions)``.
"""

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

PREFECTURES = [
    "北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県", "福島県",
    "茨城県", "栃木県", "群馬県", "埼玉県", "千葉県", "東京都", "神奈川県",
    "新潟県", "富山県", "石川県", "福井県", "山梨県", "長野県", "岐阜県",
    "静岡県", "愛知県", "三重県", "滋賀県", "京都府", "大阪府", "兵庫県",
    "奈良県", "和歌山県", "鳥取県", "島根県", "岡山県", "広島県", "山口県",
    "徳島県", "香川県", "愛媛県", "高知県", "福岡県", "佐賀県", "長崎県",
    "熊本県", "大分県", "宮崎県", "鹿児島県", "沖縄県",
]  # fmt: skip
PREFECTURE_CHOICES = [(p, p) for p in PREFECTURES]


class Gender(models.TextChoices):
    FEMALE = "female", _("女性")
    MALE = "male", _("男性")
    OTHER = "other", _("その他")
    UNKNOWN = "", _("未回答")


class Tier(models.Model):
    """A member rank earned by rolling 12-month spend (tax included, net of refunds)."""

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(_("名称"), max_length=64)
    min_spend_12m = models.PositiveIntegerField(_("必要な年間購入額(円)"), default=0)
    earn_rate_percent = models.PositiveIntegerField(
        _("ポイント倍率(%)"), default=100, help_text=_("100 = 通常、150 = 1.5倍")
    )

    class Meta:
        ordering = ["min_spend_12m"]
        verbose_name = _("会員ランク")
        verbose_name_plural = _("会員ランク")

    def __str__(self) -> str:
        return self.name


class PointProgram(models.Model):
    """The shop-wide point rules. A single row (pk=1), editable in the admin."""

    yen_per_point = models.PositiveIntegerField(
        _("1ポイントあたりの金額(円)"),
        default=100,
        help_text=_("お支払い金額(ポイント利用分を除く)をこの金額で割り、端数切り捨て"),
    )
    points_valid_days = models.PositiveIntegerField(_("ポイント有効日数"), default=365)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("ポイント規定")
        verbose_name_plural = _("ポイント規定")
        constraints = [
            models.CheckConstraint(
                condition=Q(yen_per_point__gte=1), name="pointprogram_yen_per_point_positive"
            ),
            models.CheckConstraint(
                condition=Q(points_valid_days__gte=1), name="pointprogram_valid_days_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.yen_per_point}円で1ポイント / 有効期限{self.points_valid_days}日"


class Campaign(models.Model):
    """Extra points for purchases in a date range, optionally limited to stores and items.

    With no categories or SKUs the campaign applies to the whole paid amount; otherwise
    only to the paid share of matching items. A multiplier adds the points above 100%;
    a fixed bonus is added once per qualifying purchase.
    """

    name = models.CharField(_("名称"), max_length=128)
    starts_on = models.DateField(_("開始日"))
    ends_on = models.DateField(_("終了日"))
    stores = models.ManyToManyField(
        "pos_bridge.Store", blank=True, verbose_name=_("対象店舗"), help_text=_("空欄=全店舗")
    )
    categories = models.JSONField(
        _("対象カテゴリ"), default=list, blank=True, help_text=_('例: ["cosmetics"]')
    )
    skus = models.JSONField(_("対象SKU"), default=list, blank=True)
    multiplier_percent = models.PositiveIntegerField(
        _("倍率(%)"), default=100, help_text=_("200 = ポイント2倍")
    )
    bonus_points = models.PositiveIntegerField(_("固定ボーナス(ポイント)"), default=0)
    active = models.BooleanField(_("有効"), default=True)

    class Meta:
        ordering = ["-starts_on"]
        verbose_name = _("キャンペーン")
        verbose_name_plural = _("キャンペーン")
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=F("starts_on")), name="campaign_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class MemberStatus(models.TextChoices):
    ACTIVE = "active", _("有効")
    WITHDRAWN = "withdrawn", _("退会")


class Member(models.Model):
    card_number = models.CharField(_("会員番号"), max_length=20, unique=True)
    name = models.CharField(_("氏名"), max_length=128, blank=True)
    name_kana = models.CharField(_("氏名(カナ)"), max_length=128, blank=True)
    birth_date = models.DateField(_("生年月日"))
    gender = models.CharField(_("性別"), max_length=8, choices=Gender.choices, blank=True)
    prefecture = models.CharField(
        _("都道府県"), max_length=8, choices=PREFECTURE_CHOICES, blank=True
    )
    phone = models.CharField(_("電話番号"), max_length=32, blank=True)
    email = models.EmailField(_("メールアドレス"), blank=True)
    joined_on = models.DateField(_("入会日"))
    status = models.CharField(
        _("状態"), max_length=16, choices=MemberStatus.choices, default=MemberStatus.ACTIVE
    )
    # Set once by ``member_withdraw``; the personal data above is erased at the same moment.
    withdrawn_at = models.DateTimeField(_("退会日時"), null=True, blank=True)
    tier = models.ForeignKey(
        Tier, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("会員ランク")
    )
    # Cached sum of the ledger; only ledger services write it, under a row lock.
    points_balance = models.IntegerField(_("ポイント残高"), default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("会員")
        verbose_name_plural = _("会員")
        # HQ member search (/hq/members/) finds people by phone and by the start of the kana
        # name; without these each search would read every member row.
        indexes = [
            models.Index(fields=["phone"], name="member_phone"),
            models.Index(
                fields=["name_kana"], name="member_name_kana", opclasses=["varchar_pattern_ops"]
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(points_balance__gte=0), name="member_balance_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.card_number} {self.name}".strip()

    @property
    def display_name(self) -> str:
        return self.name or str(_("会員"))


class EntryKind(models.TextChoices):
    EARN = "earn", _("付与(購入)")
    REDEEM = "redeem", _("利用")
    EXPIRE = "expire", _("失効")
    ADJUST = "adjust", _("調整")
    REVERSAL = "reversal", _("取消(返品)")
    BONUS = "bonus", _("ボーナス")
    # The balance left when a member withdraws: given up, not expired (liability drops).
    FORFEIT = "forfeit", _("退会による失効")


class PointEntry(models.Model):
    """One append-only movement of points. Corrections are new entries, never edits."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="point_entries")
    kind = models.CharField(_("種別"), max_length=16, choices=EntryKind.choices)
    delta = models.IntegerField(_("増減"))
    balance_after = models.IntegerField(_("残高"))
    # What caused it, e.g. "purchase:42", "refund:7", "lot:13" (expiry), "link_bonus".
    reference = models.CharField(_("原因"), max_length=64)
    reason = models.CharField(_("理由"), max_length=255, blank=True)
    # Who did it: "terminal:5", "user:hq-admin", "system:expire_points".
    actor = models.CharField(_("実行者"), max_length=64)
    idempotency_key = models.CharField(max_length=128, unique=True)
    occurred_at = models.DateTimeField(_("発生日時"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("ポイント履歴")
        verbose_name_plural = _("ポイント履歴")
        indexes = [
            models.Index(fields=["member", "-id"], name="pointentry_member_recent"),
            # Dashboard roll-ups recompute one day of ledger movements.
            models.Index(fields=["occurred_at"], name="pointentry_occurred"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(delta=0), name="pointentry_delta_not_zero"),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="pointentry_balance_after_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.kind} {self.delta:+d}"


class PointLot(models.Model):
    """Points opened by one positive entry; they expire together and are spent FIFO by expiry."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="point_lots")
    entry = models.OneToOneField(PointEntry, on_delete=models.PROTECT, related_name="lot")
    points = models.PositiveIntegerField()
    remaining = models.PositiveIntegerField()
    expires_on = models.DateField(_("有効期限"))

    class Meta:
        verbose_name = _("ポイントロット")
        verbose_name_plural = _("ポイントロット")
        indexes = [
            models.Index(
                fields=["member", "expires_on", "id"],
                condition=Q(remaining__gt=0),
                name="pointlot_open_by_expiry",
            ),
            models.Index(
                fields=["expires_on"], condition=Q(remaining__gt=0), name="pointlot_open_expiry"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(remaining__lte=F("points")), name="pointlot_remaining_within_points"
            ),
        ]

    def __str__(self) -> str:
        return f"lot {self.pk}: {self.remaining}/{self.points} until {self.expires_on}"


class LotConsumption(models.Model):
    """How many points a negative entry took from one lot."""

    entry = models.ForeignKey(PointEntry, on_delete=models.PROTECT, related_name="consumptions")
    lot = models.ForeignKey(PointLot, on_delete=models.PROTECT, related_name="consumptions")
    points = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(points__gt=0), name="lotconsumption_points_positive"
            ),
            models.UniqueConstraint(fields=["entry", "lot"], name="lotconsumption_once_per_lot"),
        ]

    def __str__(self) -> str:
        return f"entry {self.entry_id} took {self.points} from lot {self.lot_id}"


class CardCode(models.Model):
    """A short-lived, single-use code shown as the member card QR.

    Only a hash of the secret part is stored: a database leak does not reveal usable codes.
    """

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="card_codes")
    secret_hash = models.CharField(max_length=64, unique=True)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_for = models.CharField(max_length=64, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="cardcode_expires")]

    def __str__(self) -> str:
        return f"card code for member {self.member_id} until {self.expires_at}"
