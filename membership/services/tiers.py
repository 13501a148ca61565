"""Member tiers from rolling 12-month spend."""

from membership.models import Member, Tier
from membership.services.rules_cache import earning_rules


def tier_for_spend(spend_12m: int) -> Tier | None:
    """The highest tier whose threshold the spend reaches (None when no tiers are defined).

    Read from the short-lived rules cache (``rules_cache``): a threshold edited in the admin
    applies within seconds, and at once in the editing process.
    """
    return earning_rules().tier_for_spend(spend_12m)


def member_tier_assign(*, member: Member, spend_12m: int) -> Tier | None:
    """Set the member's tier for the given 12-month spend; write only when it changes."""
    tier = tier_for_spend(spend_12m)
    if member.tier_id != (tier.pk if tier else None):
        member.tier = tier
        Member.objects.filter(pk=member.pk).update(tier=tier)
    return tier
