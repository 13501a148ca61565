import datetime

import pytest

from membership.errors import CardNumberInvalid, MemberDataInvalid
from membership.services.members import (
    card_number_generate,
    card_number_normalize,
    luhn_valid,
    member_register,
)


def test_issued_card_numbers_have_a_valid_check_digit_and_differ():
    numbers = {card_number_generate() for _ in range(200)}

    assert len(numbers) == 200
    assert all(len(n) == 16 and n.startswith("9") and luhn_valid(n) for n in numbers)


def test_luhn_catches_a_single_mistyped_digit():
    number = card_number_generate()
    wrong = number[:5] + str((int(number[5]) + 1) % 10) + number[6:]

    assert not luhn_valid(wrong)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1234-5678", "12345678"), (" 1234 5678 ", "12345678"), ("１２３４５６７８", "12345678")],
)
def test_card_number_normalize_accepts_separators_and_full_width_digits(raw, expected):
    assert card_number_normalize(raw) == expected


@pytest.mark.parametrize("raw", ["", "123", "12a45678", "1" * 21])
def test_card_number_normalize_rejects_non_numbers(raw):
    with pytest.raises(CardNumberInvalid):
        card_number_normalize(raw)


@pytest.mark.django_db
def test_member_register_issues_a_card_number_and_starts_with_zero_points():
    member = member_register(
        birth_date=datetime.date(1990, 1, 1), name="新規 会員", gender="female"
    )

    assert luhn_valid(member.card_number)
    assert member.points_balance == 0
    assert member.joined_on is not None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fields",
    [
        {"birth_date": datetime.date(2999, 1, 1)},
        {"birth_date": datetime.date(1990, 1, 1), "gender": "robot"},
        {"birth_date": datetime.date(1990, 1, 1), "prefecture": "カリフォルニア"},
        {"birth_date": datetime.date(1990, 1, 1), "email": "not-an-email"},
    ],
)
def test_member_register_rejects_bad_data_and_writes_nothing(fields):
    from django.core.exceptions import ValidationError

    from membership.models import Member

    with pytest.raises((MemberDataInvalid, ValidationError)):
        member_register(**fields)
    assert Member.objects.count() == 0
