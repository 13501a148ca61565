"""Member tiers from rolling 12-month spend."""

from membership.models import Member, Tier


def tier_for_spend(spend_12m: int) -> Tier | None:
    """The highest tier whose threshold the spend reaches (None when no tiers are defined)."""
    return (
        Tier.objects.filter(min_spend_12m__lte=max(spend_12m, 0)).order_by("-min_spend_12m").first()
    )


def member_tier_assign(*, member: Member, spend_12m: int) -> Tier | None:
    """Set the member's tier for the given 12-month spend; write only when it changes."""
    tier = tier_for_spend(spend_12m)
    if member.tier_id != (tier.pk if tier else None):
        member.tier = tier
        Member.objects.filter(pk=member.pk).update(tier=tier)
    return tier
