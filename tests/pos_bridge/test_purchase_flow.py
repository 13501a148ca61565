import datetime

from django.utils import timezone

from membership.models import Member


def test_purchase_with_card_number_earns_one_point_per_100_yen_paid(pos, make_member):
    member = make_member()

    response = pos.purchase(total=1_999, card=member.card_number)

    assert response.status_code == 201, response.content
    assert response.json()["points_earned"] == 19
    assert Member.objects.get(pk=member.pk).points_balance == 19


def test_partial_refunds_restore_used_points_to_their_own_lots_longest_lived_first(
    pos, make_member, card_code
):
    from collections import Counter

    from membership.models import PointLot
    from tests.conftest import grant_points

    member = make_member()
    today = timezone.localdate()
    soon, late = today + datetime.timedelta(days=10), today + datetime.timedelta(days=200)
    grant_points(member, 100, expires_on=soon)
    grant_points(member, 100, expires_on=late)
    purchase = pos.purchase(total=1_000, card=card_code(member), points_to_redeem=150).json()

    first = pos.refund(purchase["purchase_id"], amount=500).json()
    second = pos.refund(purchase["purchase_id"], amount=500).json()

    assert (first["points_restored"], second["points_restored"]) == (75, 75)
    restored: Counter[datetime.date] = Counter()
    for lot in PointLot.objects.filter(member=member, entry__kind="reversal", entry__delta__gt=0):
        restored[lot.expires_on] += lot.points
    # 100 were spent from the soon lot and 50 from the late one: each goes back where it came from.
    assert restored == {soon: 100, late: 50}


def test_redeeming_never_spends_points_past_their_date_even_before_the_nightly_sweep(
    pos, make_member, card_code
):
    from membership.models import PointEntry
    from tests.conftest import grant_points

    member = make_member()
    grant_points(member, 100, expires_on=timezone.localdate() - datetime.timedelta(days=1))
    grant_points(member, 50, expires_on=timezone.localdate() + datetime.timedelta(days=30))

    too_much = pos.purchase(total=1_000, card=card_code(member), points_to_redeem=80)
    ok = pos.purchase(total=1_000, card=card_code(member), points_to_redeem=40)

    assert too_much.json()["code"] == "points_insufficient"
    assert ok.status_code == 201
    # 150 - 100 expired - 40 redeemed + 9 earned on the 960 yen paid.
    assert ok.json()["points_balance"] == 19
    assert PointEntry.objects.filter(member=member, kind="expire").count() == 1
