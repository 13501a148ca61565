"""Daily roll-ups behind the HQ dashboard, written only by ``analytics.services.rollups``.

The dashboard reads these tables and never scans purchases, the ledger or friends per
request. Each row is recomputed from the source tables as a whole (never incremented), so
re-running a roll-up for a day is harmless and corrects it. Days are local (TIME_ZONE)
calendar days.

- ``SalesDay``: per day and store, the purchases *made* that day; refunds are charged to
  the purchase's day, so a later refund of an old sale corrects that old day.
- ``LinkDay``: per day, source and acquiring store, links and unlinks (``LinkEvent``).
- ``PointsDay``: per day, the ledger movements by kind (chain-wide: bonuses, adjustments and
  expiry belong to no store).
- ``MemberMonth``: per month and store (and once for all stores), distinct purchasing
  members and their visits: distinct counts cannot be added up from days.
- ``Snapshot`` / ``StoreFriendSnapshot`` / ``TierSnapshot``: point-in-time figures (friends,
  liability, tiers) as of the last roll-up of each day.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class SalesDay(models.Model):
    day = models.DateField()
    store = models.ForeignKey("pos_bridge.Store", on_delete=models.PROTECT, related_name="+")
    purchases = models.PositiveIntegerField(default=0)
    # Yen, tax included. net = gross - refunded; refunds are those of this day's purchases.
    gross_sales = models.BigIntegerField(default=0)
    refunded = models.BigIntegerField(default=0)
    member_purchases = models.PositiveIntegerField(default=0)
    member_net_sales = models.BigIntegerField(default=0)
    # Members who were linked to LINE at the moment of the purchase (see LinkEvent).
    linked_purchases = models.PositiveIntegerField(default=0)
    linked_net_sales = models.BigIntegerField(default=0)
    points_earned = models.BigIntegerField(default=0)
    points_redeemed = models.BigIntegerField(default=0)
    points_reversed = models.BigIntegerField(default=0)
    points_restored = models.BigIntegerField(default=0)
    points_unrecovered = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("日別売上集計")
        verbose_name_plural = _("日別売上集計")
        constraints = [
            models.UniqueConstraint(fields=["day", "store"], name="salesday_once_per_store"),
        ]

    def __str__(self) -> str:
        return f"{self.day} store {self.store_id}"


class LinkDay(models.Model):
    day = models.DateField()
    source = models.CharField(max_length=16, blank=True)
    # The friend's acquiring store (poster), when there is one.
    store = models.ForeignKey(
        "pos_bridge.Store", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    linked = models.PositiveIntegerField(default=0)
    unlinked = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("日別連携集計")
        verbose_name_plural = _("日別連携集計")
        indexes = [models.Index(fields=["day"], name="linkday_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.source} store {self.store_id}"


class PointsDay(models.Model):
    """Ledger movements of one day, as positive numbers per kind and direction."""

    day = models.DateField(unique=True)
    earned = models.BigIntegerField(default=0)
    bonus = models.BigIntegerField(default=0)
    adjusted_in = models.BigIntegerField(default=0)
    adjusted_out = models.BigIntegerField(default=0)
    redeemed = models.BigIntegerField(default=0)
    expired = models.BigIntegerField(default=0)
    # Refunds: points earned on the sale taken back, and redeemed points given back.
    reversed = models.BigIntegerField(default=0)
    restored = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("日別ポイント集計")
        verbose_name_plural = _("日別ポイント集計")

    def __str__(self) -> str:
        return str(self.day)


class MemberMonth(models.Model):
    month = models.DateField(help_text="first day of the month")
    # Null: all stores together (a member visiting two stores counts once).
    store = models.ForeignKey(
        "pos_bridge.Store", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    members = models.PositiveIntegerField(default=0)
    visits = models.PositiveIntegerField(default=0)
    # A member who linked mid-month counts on both sides; visits are split exactly.
    linked_members = models.PositiveIntegerField(default=0)
    linked_visits = models.PositiveIntegerField(default=0)
    unlinked_members = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("月別来店集計")
        verbose_name_plural = _("月別来店集計")
        indexes = [models.Index(fields=["month"], name="membermonth_month")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} store {self.store_id}"


class Snapshot(models.Model):
    """Chain-wide point-in-time figures, as of ``taken_at`` (the day's last roll-up)."""

    day = models.DateField(unique=True)
    taken_at = models.DateTimeField()
    # Friends: every LINE user who followed (a blocked user followed once); LIFF users who
    # never followed are not friends. Effective friends = friends - blocked.
    friends = models.PositiveIntegerField(default=0)
    blocked = models.PositiveIntegerField(default=0)
    linked = models.PositiveIntegerField(default=0)
    linked_effective = models.PositiveIntegerField(default=0)
    members = models.PositiveIntegerField(default=0)
    liability = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("日次スナップショット")
        verbose_name_plural = _("日次スナップショット")

    def __str__(self) -> str:
        return f"snapshot {self.day}"


class StoreFriendSnapshot(models.Model):
    """Friends a store's poster brought in (``LineFriend.acquired_store``)."""

    day = models.DateField()
    store = models.ForeignKey("pos_bridge.Store", on_delete=models.PROTECT, related_name="+")
    friends = models.PositiveIntegerField(default=0)
    blocked = models.PositiveIntegerField(default=0)
    linked = models.PositiveIntegerField(default=0)
    linked_effective = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "store"], name="storefriendsnapshot_once"),
        ]

    def __str__(self) -> str:
        return f"friends {self.day} store {self.store_id}"


class TierSnapshot(models.Model):
    day = models.DateField()
    # Null: active members without a tier.
    tier = models.ForeignKey(
        "membership.Tier", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    members = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["day"], name="tiersnapshot_day")]

    def __str__(self) -> str:
        return f"tier {self.tier_id} {self.day}: {self.members}"


class RollupState(models.Model):
    """One row (pk=1): locked for the whole run, so roll-ups never interleave."""

    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"rollup finished {self.last_finished_at}"
