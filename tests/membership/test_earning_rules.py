"""``points_for_purchase``: the earning rules stored in the database, as integer arithmetic."""

import datetime

import pytest
from django.utils import timezone

from membership.models import Campaign, Member
from membership.services.earning import EarnItem, points_for_purchase
from membership.services.points import point_program_get


def _earn(member: Member, store, *, total: int, redeemed: int = 0, items=(), occurred_at=None):
    return points_for_purchase(
        member=member,
        store_id=store.pk,
        occurred_at=occurred_at or timezone.now(),
        total=total,
        points_redeemed=redeemed,
        items=items,
    )


def _campaign(**fields) -> Campaign:
    today = timezone.localdate()
    fields.setdefault("name", "キャンペーン")
    fields.setdefault("starts_on", today)
    fields.setdefault("ends_on", today)
    return Campaign.objects.create(**fields)


@pytest.mark.parametrize(
    ("total", "redeemed", "points"),
    [
        (0, 0, 0),
        (99, 0, 0),
        (100, 0, 1),
        (12_345, 0, 123),
        (12_345, 345, 120),
        (12_345, 12_345, 0),
        (150, 51, 0),
        (150, 50, 1),
    ],
)
def test_base_points_are_one_per_100_yen_paid_in_money_rounded_down(
    make_member, store, total, redeemed, points
):
    breakdown = _earn(make_member(), store, total=total, redeemed=redeemed)

    assert breakdown.base == points
    assert breakdown.total == points


def test_yen_per_point_is_read_from_the_point_program(make_member, store):
    program = point_program_get()
    program.yen_per_point = 200
    program.save()

    assert _earn(make_member(), store, total=1_999).total == 9


@pytest.mark.parametrize(
    ("rate", "total", "points"),
    [(100, 1_000, 10), (150, 1_000, 15), (150, 1_100, 16), (200, 1_999, 38), (125, 300, 3)],
)
def test_tier_rate_multiplies_base_points_rounded_down(
    make_member, store, tiers, rate, total, points
):
    tier = tiers["silver"]
    tier.earn_rate_percent = rate
    tier.save()

    breakdown = _earn(make_member(tier=tier), store, total=total)

    assert breakdown.total == points
    assert breakdown.tier_bonus == points - breakdown.base


def test_member_without_tier_earns_the_base_rate(make_member, store, tiers):
    assert _earn(make_member(tier=None), store, total=1_000).total == 10


def test_campaign_multiplier_adds_points_above_100_percent(make_member, store):
    _campaign(name="2倍", multiplier_percent=200)

    breakdown = _earn(make_member(), store, total=1_000)

    assert (breakdown.base, breakdown.campaign_bonus, breakdown.total) == (10, 10, 20)
    assert breakdown.campaigns == ["2倍"]


def test_campaign_multiplier_stacks_on_top_of_tier_rate(make_member, store, tiers):
    _campaign(multiplier_percent=200)

    assert _earn(make_member(tier=tiers["gold"]), store, total=1_000).total == 10 + 10 + 10


def test_fixed_bonus_is_added_once(make_member, store):
    _campaign(bonus_points=25)

    assert _earn(make_member(), store, total=1_000).total == 35


def test_fixed_bonus_needs_money_paid(make_member, store):
    _campaign(bonus_points=25)

    assert _earn(make_member(), store, total=1_000, redeemed=1_000).total == 0


def test_two_campaigns_both_apply(make_member, store):
    _campaign(name="a", multiplier_percent=150)
    _campaign(name="b", bonus_points=7)

    breakdown = _earn(make_member(), store, total=1_000)

    assert breakdown.total == 10 + 5 + 7
    assert sorted(breakdown.campaigns) == ["a", "b"]


@pytest.mark.parametrize(
    ("starts", "ends", "applies"),
    [(0, 0, True), (-3, 0, True), (0, 3, True), (1, 3, False), (-3, -1, False)],
)
def test_campaign_applies_only_between_its_first_and_last_day(
    make_member, store, starts, ends, applies
):
    today = timezone.localdate()
    _campaign(
        bonus_points=100,
        starts_on=today + datetime.timedelta(days=starts),
        ends_on=today + datetime.timedelta(days=ends),
    )

    assert _earn(make_member(), store, total=1_000).total == (110 if applies else 10)


def test_campaign_day_is_the_local_tokyo_date_of_the_purchase(make_member, store):
    _campaign(
        bonus_points=100, starts_on=datetime.date(2025, 3, 2), ends_on=datetime.date(2025, 3, 2)
    )
    # 2025-03-01 23:30 UTC is 2025-03-02 08:30 in Tokyo.
    occurred_at = datetime.datetime(2025, 3, 1, 23, 30, tzinfo=datetime.UTC)

    assert _earn(make_member(), store, total=1_000, occurred_at=occurred_at).total == 110


def test_inactive_campaign_does_not_apply(make_member, store):
    _campaign(bonus_points=100, multiplier_percent=500, active=False)

    assert _earn(make_member(), store, total=1_000).total == 10


def test_store_limited_campaign_applies_only_to_its_stores(make_member, store, other_store):
    campaign = _campaign(bonus_points=100)
    campaign.stores.set([store])
    member = make_member()

    assert _earn(member, store, total=1_000).total == 110
    assert _earn(member, other_store, total=1_000).total == 10


def test_campaign_for_several_stores_counts_once(make_member, store, other_store):
    campaign = _campaign(bonus_points=100)
    campaign.stores.set([store, other_store])

    assert _earn(make_member(), store, total=1_000).total == 110


def test_category_campaign_covers_only_matching_items(make_member, store):
    _campaign(categories=["cosmetics"], multiplier_percent=200)
    items = [EarnItem("C-1", "cosmetics", 700), EarnItem("F-1", "food", 300)]

    assert _earn(make_member(), store, total=1_000, items=items).total == 10 + 7


def test_sku_campaign_covers_only_matching_skus(make_member, store):
    _campaign(skus=["F-1"], multiplier_percent=300)
    items = [EarnItem("C-1", "cosmetics", 700), EarnItem("F-1", "food", 300)]

    assert _earn(make_member(), store, total=1_000, items=items).total == 10 + 6


def test_item_campaign_without_matching_items_gives_no_bonus(make_member, store):
    _campaign(categories=["cosmetics"], bonus_points=50)

    member = make_member()
    assert _earn(member, store, total=1_000, items=[EarnItem("F", "food", 1_000)]).total == 10
    assert _earn(member, store, total=1_000).total == 10


def test_item_campaign_on_a_purchase_partly_paid_with_points_covers_only_the_money_share(
    make_member, store
):
    _campaign(categories=["cosmetics"], multiplier_percent=200)
    items = [EarnItem("C-1", "cosmetics", 1_000), EarnItem("F-1", "food", 1_000)]

    breakdown = _earn(make_member(), store, total=2_000, redeemed=1_000, items=items)

    # 1,000 paid in money; half of it is the cosmetics share.
    assert (breakdown.base, breakdown.campaign_bonus) == (10, 5)


def test_item_amounts_above_the_total_never_earn_more_than_the_total(make_member, store):
    _campaign(categories=["cosmetics"], multiplier_percent=200)
    items = [EarnItem("C-1", "cosmetics", 50_000)]

    assert _earn(make_member(), store, total=1_000, items=items).total == 20


def test_multiplier_below_100_percent_never_takes_points_away(make_member, store):
    _campaign(multiplier_percent=50)

    assert _earn(make_member(), store, total=1_000).total == 10
