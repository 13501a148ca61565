"""The staff services on their own: the store terminal, receipt numbers, accounts."""

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from pos_bridge.errors import DuplicateReceipt
from pos_bridge.models import Purchase, StaffMember, Terminal, TerminalKind
from pos_bridge.services import staff as staff_service
from pos_bridge.services.staff import (
    staff_member_create,
    staff_member_for_user,
    staff_purchase_submit,
    staff_receipt_number_new,
    staff_terminal_for_store,
)


def test_staff_terminal_is_created_once_and_reused(store):
    first = staff_terminal_for_store(store=store)
    assert staff_terminal_for_store(store=store) == first
    assert first.kind == TerminalKind.STAFF_WEB and first.store == store
    assert Terminal.objects.filter(store=store).count() == 1


def test_a_second_staff_terminal_for_one_store_is_refused_by_the_database(store):
    staff_terminal_for_store(store=store)
    with pytest.raises(IntegrityError):
        Terminal.objects.create(
            store=store, name="x", kind=TerminalKind.STAFF_WEB, key_prefix="p", key_hash="h"
        )


def test_pos_terminals_are_not_taken_for_the_staff_terminal(store, terminal):
    assert staff_terminal_for_store(store=store) != terminal.terminal


def test_receipt_numbers_carry_the_local_date():
    import datetime

    at = datetime.datetime(2026, 11, 22, 16, 0, tzinfo=datetime.UTC)  # 01:00 on the 23rd JST
    assert staff_receipt_number_new(prefix="S", at=at).startswith("S-20261123-")


def test_a_clashing_receipt_number_is_drawn_again(store, make_member, staff_user, monkeypatch):
    staff = StaffMember.objects.get(user=staff_user)
    member = make_member()
    numbers = iter(["S-20261123-AAAAAA", "S-20261123-AAAAAA", "S-20261123-BBBBBB"])
    monkeypatch.setattr(staff_service, "staff_receipt_number_new", lambda **_: next(numbers))
    staff_purchase_submit(staff=staff, form_key="k1", card=member.card_number, total=100)
    second = staff_purchase_submit(staff=staff, form_key="k2", card=member.card_number, total=100)
    assert second.body["receipt_number"] == "S-20261123-BBBBBB"
    assert Purchase.objects.count() == 2


def test_receipt_clashes_give_up_after_three_draws(store, make_member, staff_user, monkeypatch):
    staff = StaffMember.objects.get(user=staff_user)
    member = make_member()
    monkeypatch.setattr(staff_service, "staff_receipt_number_new", lambda **_: "S-1-SAME")
    staff_purchase_submit(staff=staff, form_key="k1", card=member.card_number, total=100)
    with pytest.raises(DuplicateReceipt):
        staff_purchase_submit(staff=staff, form_key="k2", card=member.card_number, total=100)


def test_a_user_belongs_to_one_store_only(store, other_store, staff_user):
    with pytest.raises(ValidationError):
        staff_member_create(user=staff_user, store=other_store)


def test_inactive_users_have_no_staff_record(staff_user):
    assert staff_member_for_user(staff_user) is not None
    staff_user.is_active = False
    assert staff_member_for_user(staff_user) is None


def test_users_without_a_store_have_no_staff_record(db):
    user = get_user_model().objects.create_user(username="hq")
    assert staff_member_for_user(user) is None
