"""How many points a purchase earns. Pure integer arithmetic over the rules in the database.

Accounting rules:
- Only money earns points: the base is ``total - points_redeemed`` (1 point = 1 yen), so
  points used at checkout earn nothing.
- Base points = paid // yen_per_point (rounded down), times the member's tier rate.
- A campaign multiplier adds the points above 100% on the paid share of what it covers
  (the whole purchase, or only matching items); a fixed bonus is added once per purchase.
- Item amounts are scaled by ``paid / total`` so an item paid partly with points earns only
  on its money part, and item lists that disagree with the total never earn more than it.
"""

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.utils import timezone

from membership.models import Campaign, Member, PointProgram
from membership.services.rules_cache import earning_rules


@dataclass(frozen=True)
class EarnItem:
    sku: str
    category: str
    amount: int


@dataclass(frozen=True)
class EarnBreakdown:
    base: int
    tier_bonus: int
    campaign_bonus: int
    campaigns: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.base + self.tier_bonus + self.campaign_bonus


def points_for_purchase(
    *,
    member: Member,
    store_id: int,
    occurred_at: datetime.datetime,
    total: int,
    points_redeemed: int,
    items: Sequence[EarnItem] = (),
    program: PointProgram | None = None,
) -> EarnBreakdown:
    paid = total - points_redeemed
    if paid <= 0:
        return EarnBreakdown(base=0, tier_bonus=0, campaign_bonus=0)
    rules = earning_rules()
    yen_per_point = (program or rules.program).yen_per_point
    base = paid // yen_per_point
    tier_rate = member.tier.earn_rate_percent if member.tier_id and member.tier else 100
    tier_bonus = base * tier_rate // 100 - base

    campaign_bonus = 0
    applied = []
    on = timezone.localdate(occurred_at)
    for campaign in rules.campaigns_on(on=on, store_id=store_id):
        covered = _paid_amount_covered(campaign, items=items, total=total, paid=paid)
        if covered is None:
            continue
        extra = (covered // yen_per_point) * (campaign.multiplier_percent - 100) // 100
        campaign_bonus += max(extra, 0) + campaign.bonus_points
        applied.append(campaign.name)
    return EarnBreakdown(
        base=base, tier_bonus=tier_bonus, campaign_bonus=campaign_bonus, campaigns=applied
    )


def _paid_amount_covered(
    campaign: Campaign, *, items: Sequence[EarnItem], total: int, paid: int
) -> int | None:
    """The paid amount a campaign applies to, or None when the purchase does not qualify."""
    if not campaign.categories and not campaign.skus:
        return paid
    categories = set(campaign.categories or [])
    skus = set(campaign.skus or [])
    matching = sum(i.amount for i in items if i.category in categories or i.sku in skus)
    if matching <= 0:
        return None
    return min(matching, total) * paid // total
