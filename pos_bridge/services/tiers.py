"""Tier refresh for everyone (daily): spend lives with purchases, tiers with membership."""

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from membership.models import Member
from membership.services.tiers import member_tier_assign
from pos_bridge.models import Purchase
from pos_bridge.selectors import TIER_WINDOW


def tiers_refresh_all() -> int:
    """Reassign every active member's tier; returns how many changed. One spend query."""
    now = timezone.now()
    spend_by_member = dict(
        Purchase.objects.filter(
            member__isnull=False, occurred_at__gt=now - TIER_WINDOW, occurred_at__lte=now
        )
        .values("member_id")
        .annotate(spend=Sum(F("total") - F("refunded_amount")))
        .values_list("member_id", "spend")
    )
    changed = 0
    for member in Member.objects.only("id", "tier_id").iterator(chunk_size=2000):
        before = member.tier_id
        with transaction.atomic():
            tier = member_tier_assign(member=member, spend_12m=spend_by_member.get(member.pk, 0))
        changed += before != (tier.pk if tier else None)
    return changed
