from membership.models import Member


def test_purchase_with_card_number_earns_one_point_per_100_yen_paid(pos, make_member):
    member = make_member()

    response = pos.purchase(total=1_999, card=member.card_number)

    assert response.status_code == 201, response.content
    assert response.json()["points_earned"] == 19
    assert Member.objects.get(pk=member.pk).points_balance == 19
