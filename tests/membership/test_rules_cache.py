"""The per-process copy of the earning rules (``rules_cache``): edits apply at once in the
editing process, a rolled-back edit is never served, and a warm copy costs no query."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from membership.models import Campaign, PointProgram, Tier
from membership.services.earning import points_for_purchase
from membership.services.points import point_program_get
from membership.services.rules_cache import earning_rules
from membership.services.tiers import tier_for_spend


def _earned(member, store, total: int = 1_000) -> int:
    return points_for_purchase(
        member=member,
        store_id=store.pk,
        occurred_at=timezone.now(),
        total=total,
        points_redeemed=0,
    ).total


@pytest.mark.django_db(transaction=True)
def test_warm_rules_are_served_without_a_query(store, tiers):
    earning_rules()

    with CaptureQueriesContext(connection) as captured:
        rules = earning_rules()
        tier = tier_for_spend(60_000)

    assert captured.captured_queries == []
    assert rules.program.yen_per_point == 100
    assert tier == tiers["silver"]


@pytest.mark.django_db(transaction=True)
def test_committed_program_edit_applies_at_once_to_a_warm_cache(make_member, store):
    member = make_member()
    assert _earned(member, store) == 10

    program = point_program_get()
    program.yen_per_point = 200
    program.save()

    assert _earned(member, store) == 5


@pytest.mark.django_db(transaction=True)
def test_committed_campaign_and_store_link_apply_at_once(make_member, store, other_store):
    member = make_member()
    assert _earned(member, store) == 10
    today = timezone.localdate()
    campaign = Campaign.objects.create(
        name="倍", starts_on=today, ends_on=today, multiplier_percent=200
    )
    assert _earned(member, store) == 20

    campaign.stores.add(other_store)

    assert _earned(member, store) == 10
    assert _earned(member, other_store) == 20


@pytest.mark.django_db(transaction=True)
def test_committed_tier_threshold_edit_applies_at_once(tiers):
    assert tier_for_spend(60_000) == tiers["silver"]

    gold = tiers["gold"]
    gold.min_spend_12m = 55_000
    gold.save()

    assert tier_for_spend(60_000) == gold


@pytest.mark.django_db(transaction=True)
def test_deleted_campaign_stops_applying_at_once(make_member, store):
    member = make_member()
    today = timezone.localdate()
    campaign = Campaign.objects.create(name="B", starts_on=today, ends_on=today, bonus_points=7)
    assert _earned(member, store) == 17

    campaign.delete()

    assert _earned(member, store) == 10


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_tier_is_never_served(tiers):
    assert tier_for_spend(10**9) == tiers["gold"]

    with pytest.raises(RuntimeError), transaction.atomic():
        platinum = Tier.objects.create(code="platinum", name="プラチナ", min_spend_12m=10**8)
        # Inside the editing transaction the edit is visible...
        assert tier_for_spend(10**9) == platinum
        raise RuntimeError("roll back")

    # ...and once it rolled back, neither the row nor a copy of it is left.
    assert tier_for_spend(10**9) == tiers["gold"]
    assert not Tier.objects.filter(code="platinum").exists()


def test_edit_inside_the_test_transaction_is_seen_by_the_same_transaction(make_member, store):
    member = make_member()
    assert _earned(member, store) == 10
    PointProgram.objects.update_or_create(pk=1, defaults={"yen_per_point": 50})

    assert _earned(member, store) == 20
