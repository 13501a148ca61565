"""Tiers from rolling 12-month spend (tax included, net of refunds)."""

import datetime
import io

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from membership.models import Member
from membership.services.tiers import member_tier_assign, tier_for_spend
from pos_bridge.selectors import member_spend_12m


def _tier_code(member: Member) -> str | None:
    tier = Member.objects.select_related("tier").get(pk=member.pk).tier
    return tier.code if tier else None


@pytest.mark.parametrize(
    ("spend", "tier"),
    [
        (-1, "regular"),
        (0, "regular"),
        (49_999, "regular"),
        (50_000, "silver"),
        (199_999, "silver"),
        (200_000, "gold"),
        (10_000_000, "gold"),
    ],
)
def test_tier_is_the_highest_whose_threshold_the_spend_reaches(tiers, spend, tier):
    assert tier_for_spend(spend) == tiers[tier]


def test_no_tier_when_none_are_defined(db):
    assert tier_for_spend(1_000_000) is None


def test_thresholds_are_read_from_the_database(tiers):
    tiers["silver"].min_spend_12m = 10_000
    tiers["silver"].save()

    assert tier_for_spend(10_000) == tiers["silver"]


def test_member_tier_assign_sets_and_lowers_the_tier(make_member, tiers):
    member = make_member()

    member_tier_assign(member=member, spend_12m=250_000)
    assert _tier_code(member) == "gold"

    member_tier_assign(member=member, spend_12m=60_000)
    assert _tier_code(member) == "silver"


def test_purchase_reaching_a_threshold_raises_the_tier(pos, make_member, tiers):
    member = make_member()
    assert pos.purchase(total=30_000, card=member.card_number).json()["tier"] == "レギュラー"

    response = pos.purchase(total=20_000, card=member.card_number)

    assert response.json()["tier"] == "シルバー"
    assert _tier_code(member) == "silver"


def test_new_tier_rate_applies_from_the_next_purchase(pos, make_member, tiers):
    member = make_member()
    first = pos.purchase(total=50_000, card=member.card_number).json()

    second = pos.purchase(total=1_000, card=member.card_number).json()

    assert first["points_earned"] == 500
    assert second["points_earned"] == 15


def test_refund_lowers_the_spend_and_the_tier(pos, make_member, tiers):
    member = make_member()
    purchase = pos.purchase(total=210_000, card=member.card_number).json()
    assert purchase["tier"] == "ゴールド"

    pos.refund(purchase["purchase_id"], amount=15_000)
    assert _tier_code(member) == "silver"

    pos.refund(purchase["purchase_id"], amount=150_000)
    assert _tier_code(member) == "regular"
    assert member_spend_12m(member=member) == 45_000


def test_spend_counts_only_the_last_365_days(pos, make_member, tiers):
    member = make_member()
    long_ago = timezone.now() - datetime.timedelta(days=400)
    pos.purchase(total=300_000, card=member.card_number, occurred_at=long_ago.isoformat())

    response = pos.purchase(total=1_000, card=member.card_number)

    assert member_spend_12m(member=member) == 1_000
    assert response.json()["tier"] == "レギュラー"


def test_spend_of_other_members_and_non_members_does_not_count(pos, make_member, tiers):
    member = make_member()
    other = make_member()
    pos.purchase(total=100_000, card=other.card_number)
    pos.purchase(total=100_000)

    pos.purchase(total=1_000, card=member.card_number)

    assert member_spend_12m(member=member) == 1_000
    assert _tier_code(member) == "regular"


def test_refresh_tiers_lowers_tiers_when_spend_leaves_the_window(pos, make_member, tiers):
    member = make_member()
    pos.purchase(total=60_000, card=member.card_number)
    assert _tier_code(member) == "silver"

    with time_machine.travel(timezone.now() + datetime.timedelta(days=366)):
        stdout = io.StringIO()
        call_command("refresh_tiers", stdout=stdout)

    assert _tier_code(member) == "regular"
    assert "tiers changed: 1" in stdout.getvalue()


def test_refresh_tiers_changes_nothing_when_tiers_are_current(pos, make_member, tiers):
    member = make_member()
    pos.purchase(total=60_000, card=member.card_number)
    stdout = io.StringIO()

    call_command("refresh_tiers", stdout=stdout)

    assert _tier_code(member) == "silver"
    assert "tiers changed: 0" in stdout.getvalue()
