"""A big segment send must not hold up the messages a shopper is waiting for."""

import pytest

from line_messaging.models import OutboxKind
from line_messaging.services import outbox
from line_messaging.services.outbox import outbox_message, outbox_multicast

pytestmark = pytest.mark.django_db


def test_a_receipt_queued_after_a_large_multicast_backlog_is_claimed_first():
    users = [f"U{i:032x}" for i in range(1, 1501)]
    outbox_multicast(
        line_user_ids=users, messages=[{"type": "text", "text": "セール"}], purpose="b"
    )
    outbox_message(
        line_user_id=users[0], messages=[{"type": "text", "text": "レシート"}], purpose="receipt"
    )

    first = outbox._claim_due(1)
    rest = outbox._claim_due(10)

    assert [c.row.kind for c in first] == [OutboxKind.PUSH]
    assert [c.row.kind for c in rest] == [OutboxKind.MULTICAST] * 3


def test_multicasts_still_go_when_nothing_else_is_due():
    outbox_multicast(
        line_user_ids=["U" + "1" * 32], messages=[{"type": "text", "text": "x"}], purpose="b"
    )
    assert [c.row.kind for c in outbox._claim_due(5)] == [OutboxKind.MULTICAST]
