"""Member card codes: short-lived, signed, single-use, bound to one member."""

import base64
import datetime
import secrets
import string

import pytest
import time_machine
from django.utils import timezone

from membership.errors import CardCodeExpired, CardCodeUsed, CardNotFound, MemberInactive
from membership.models import CardCode, Member, MemberStatus
from membership.services import card_codes
from membership.services.card_codes import card_code_consume, card_code_issue, card_resolve

BASE32 = set(string.ascii_uppercase + "234567")


def _tampered(code: str, position: int) -> str:
    replacement = "A" if code[position] != "A" else "B"
    return code[:position] + replacement + code[position + 1 :]


def test_code_starts_with_mc_and_is_base32(make_member):
    code = card_code_issue(member=make_member()).code

    assert code.startswith("MC")
    assert set(code[2:]) <= BASE32
    assert len(code) == 28


def test_code_carries_at_least_64_bits_of_randomness(make_member, monkeypatch):
    requested = []
    real_token_bytes = secrets.token_bytes

    def recording_token_bytes(n):
        requested.append(n)
        return real_token_bytes(n)

    monkeypatch.setattr(card_codes.secrets, "token_bytes", recording_token_bytes)

    code = card_code_issue(member=make_member()).code

    assert requested == [10]
    raw = base64.b32decode(code[2:] + "=" * (-len(code[2:]) % 8))
    assert len(raw) * 8 >= 64 + 48  # nonce plus signature


def test_two_codes_for_the_same_member_differ(make_member):
    member = make_member()

    codes = {card_code_issue(member=member).code for _ in range(50)}

    assert len(codes) == 50


def test_code_expires_within_60_seconds(make_member):
    now = timezone.now()

    issued = card_code_issue(member=make_member(), now=now)

    assert now < issued.expires_at <= now + datetime.timedelta(seconds=60)


def test_code_resolves_to_its_member(make_member):
    member = make_member()
    make_member()
    code = card_code_issue(member=member).code

    resolved = card_resolve(card=code)

    assert resolved.member == member
    assert resolved.identified_by == "card_code"


def test_code_is_stored_only_as_a_hash(make_member):
    code = card_code_issue(member=make_member()).code

    row = CardCode.objects.get()
    assert code not in row.secret_hash
    assert code[2:] not in row.secret_hash
    assert len(row.secret_hash) == 64


def test_code_is_valid_until_its_expiry_and_refused_after(make_member):
    member = make_member()
    issued = card_code_issue(member=member)

    with time_machine.travel(issued.expires_at - datetime.timedelta(seconds=1)):
        assert card_resolve(card=issued.code).member == member
    with (
        time_machine.travel(issued.expires_at + datetime.timedelta(seconds=1)),
        pytest.raises(CardCodeExpired) as exc_info,
    ):
        card_resolve(card=issued.code)

    assert exc_info.value.code == "card_code_expired"


@pytest.mark.parametrize("position", [2, 5, 12, 20, 26])
def test_tampered_code_is_not_found_without_touching_the_database(
    make_member, django_assert_num_queries, position
):
    code = card_code_issue(member=make_member()).code
    tampered = _tampered(code, position)

    with django_assert_num_queries(0), pytest.raises(CardNotFound) as exc_info:
        card_resolve(card=tampered)

    assert exc_info.value.code == "card_not_found"


@pytest.mark.parametrize(
    "card", ["MC", "MC" + "A" * 25, "MC" + "A" * 27, "MC" + "1" * 26, "MC" + "!" * 26]
)
def test_malformed_code_is_not_found_without_touching_the_database(
    db, django_assert_num_queries, card
):
    with django_assert_num_queries(0), pytest.raises(CardNotFound):
        card_resolve(card=card)


def test_signed_code_unknown_to_the_database_is_not_found(make_member):
    code = card_code_issue(member=make_member()).code
    CardCode.objects.all().delete()

    with pytest.raises(CardNotFound):
        card_resolve(card=code)


def test_code_signed_with_another_secret_key_is_not_found(make_member, settings):
    code = card_code_issue(member=make_member()).code
    settings.SECRET_KEY = "another-secret-key-for-another-deployment"

    with pytest.raises(CardNotFound):
        card_resolve(card=code)


def test_code_can_be_consumed_once(make_member):
    code = card_code_issue(member=make_member()).code
    row = card_resolve(card=code).card_code
    assert row is not None

    card_code_consume(card_code=row, used_for="purchase:1")

    with pytest.raises(CardCodeUsed):
        card_code_consume(card_code=row, used_for="purchase:2")
    with pytest.raises(CardCodeUsed) as exc_info:
        card_resolve(card=code)
    assert exc_info.value.code == "card_code_used"
    assert CardCode.objects.get().used_for == "purchase:1"


def test_code_cannot_be_issued_for_a_withdrawn_member(make_member):
    member = make_member(status=MemberStatus.WITHDRAWN)

    with pytest.raises(MemberInactive):
        card_code_issue(member=member)

    assert CardCode.objects.count() == 0


def test_code_of_a_member_who_withdrew_is_refused(make_member):
    member = make_member()
    code = card_code_issue(member=member).code
    Member.objects.filter(pk=member.pk).update(status=MemberStatus.WITHDRAWN)

    with pytest.raises(MemberInactive) as exc_info:
        card_resolve(card=code)

    assert exc_info.value.code == "member_inactive"


def test_code_is_accepted_whatever_the_letter_case_and_surrounding_space(make_member):
    member = make_member()
    code = card_code_issue(member=member).code

    assert card_resolve(card=f"  {code.lower()} ").member == member


def test_code_checked_at_a_past_moment_uses_that_moment(make_member):
    member = make_member()
    issued_at = timezone.now()
    issued = card_code_issue(member=member, now=issued_at)

    with time_machine.travel(issued_at + datetime.timedelta(hours=1)):
        at_sale = issued_at + datetime.timedelta(seconds=20)
        assert card_resolve(card=issued.code, at=at_sale).member == member
        with pytest.raises(CardCodeExpired):
            card_resolve(card=issued.code)
        with pytest.raises(CardCodeExpired):
            card_resolve(card=issued.code, at=issued_at - datetime.timedelta(minutes=5))


def test_card_number_resolves_without_a_code(make_member):
    member = make_member(card_number="12345678")

    resolved = card_resolve(card="1234-5678")

    assert resolved.member == member
    assert resolved.card_code is None
    assert resolved.identified_by == "card_number"


@pytest.mark.parametrize("card", ["87654321", "123", "abcdefgh", ""])
def test_unknown_or_invalid_card_number_is_not_found(make_member, card):
    make_member(card_number="12345678")

    with pytest.raises(CardNotFound):
        card_resolve(card=card)


def test_purge_card_codes_deletes_only_codes_expired_over_a_day_ago(make_member):
    import datetime

    import time_machine
    from django.core.management import call_command
    from django.utils import timezone

    from membership.models import CardCode
    from membership.services.card_codes import card_code_issue

    member = make_member()
    with time_machine.travel(timezone.now() - datetime.timedelta(days=2)):
        card_code_issue(member=member)
    fresh = card_code_issue(member=member)

    call_command("purge_card_codes")

    assert list(CardCode.objects.values_list("pk", flat=True)) == [
        CardCode.objects.get(expires_at=fresh.expires_at).pk
    ]
