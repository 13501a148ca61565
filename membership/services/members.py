"""Member records: card numbers and registration."""

import datetime
import re
import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone

from membership.errors import CardNumberInvalid, MemberDataInvalid
from membership.models import PREFECTURES, Gender, Member

# Printed plastic cards carry 4-20 digits; people and scanners add spaces or hyphens.
_CARD_NUMBER_SEPARATORS = re.compile(r"[\s\-]")
_CARD_NUMBER_DIGITS = re.compile(r"\d{4,20}")
_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
# Numbers this system issues: 16 digits, "9" then 14 random digits then a Luhn check digit,
# so a mistyped digit is caught at the till before it reaches the database.
ISSUED_CARD_NUMBER_PREFIX = "9"
ISSUED_CARD_NUMBER_LENGTH = 16


def card_number_normalize(raw: str) -> str:
    """Return the canonical card number (digits only) or raise ``CardNumberInvalid``."""
    number = _CARD_NUMBER_SEPARATORS.sub("", raw or "")
    # Full-width digits (０-９) come from Japanese IMEs and spreadsheets.
    number = number.translate(_FULL_WIDTH_DIGITS)
    if not _CARD_NUMBER_DIGITS.fullmatch(number):
        raise CardNumberInvalid()
    return number


def luhn_check_digit(digits: str) -> str:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return number[-1] == luhn_check_digit(number[:-1])


def card_number_generate() -> str:
    body_length = ISSUED_CARD_NUMBER_LENGTH - len(ISSUED_CARD_NUMBER_PREFIX) - 1
    body = ISSUED_CARD_NUMBER_PREFIX + "".join(
        secrets.choice("0123456789") for _ in range(body_length)
    )
    return body + luhn_check_digit(body)


def member_register(
    *,
    birth_date: datetime.date,
    name: str = "",
    name_kana: str = "",
    gender: str = "",
    prefecture: str = "",
    phone: str = "",
    email: str = "",
) -> Member:
    """Create a new member with a freshly issued card number.

    Retries on the (astronomically rare) card number collision; raises
    ``MemberDataInvalid`` for data that fails validation. Nothing is written on error.
    """
    if gender not in Gender.values:
        raise MemberDataInvalid(field="gender")
    if prefecture and prefecture not in PREFECTURES:
        raise MemberDataInvalid(field="prefecture")
    if birth_date > timezone.localdate() or birth_date.year < 1900:
        raise MemberDataInvalid(field="birth_date")
    for _attempt in range(5):
        member = Member(
            card_number=card_number_generate(),
            name=name.strip(),
            name_kana=name_kana.strip(),
            birth_date=birth_date,
            gender=gender,
            prefecture=prefecture,
            phone=phone.strip(),
            email=email.strip(),
            joined_on=timezone.localdate(),
        )
        member.full_clean(exclude=["card_number"], validate_unique=False)
        try:
            with transaction.atomic():
                member.save()
        except IntegrityError:
            continue
        return member
    raise RuntimeError("could not issue a unique card number")  # pragma: no cover
