"""Shared fixtures. Tests run on SQLite by default and on PostgreSQL when DATABASE_URL
points there (``make test`` does both when TEST_POSTGRES_URL is set)."""

import datetime
import itertools
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from membership.models import Member, Tier
from membership.services.card_codes import card_code_issue
from membership.services.points import member_lock, points_credit
from pos_bridge.models import Store
from pos_bridge.services.stores import IssuedTerminal, store_create, terminal_create

_card_numbers = itertools.count(10_000_001)


def pytest_collection_modifyitems(config, items):
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(
        reason="needs PostgreSQL (row locks, parallel connections): "
        "set TEST_POSTGRES_URL and run `make test`"
    )
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def store(db) -> Store:
    return store_create(code="shibuya", name="渋谷店", prefecture="東京都")


@pytest.fixture
def other_store(db) -> Store:
    return store_create(code="yokohama", name="横浜店", prefecture="神奈川県")


@pytest.fixture
def terminal(store) -> IssuedTerminal:
    return terminal_create(store_code=store.code, name="register-1")


@pytest.fixture
def other_terminal(other_store) -> IssuedTerminal:
    return terminal_create(store_code=other_store.code, name="register-1")


@pytest.fixture
def tiers(db) -> dict[str, Tier]:
    return {
        "regular": Tier.objects.create(code="regular", name="レギュラー", min_spend_12m=0),
        "silver": Tier.objects.create(
            code="silver", name="シルバー", min_spend_12m=50_000, earn_rate_percent=150
        ),
        "gold": Tier.objects.create(
            code="gold", name="ゴールド", min_spend_12m=200_000, earn_rate_percent=200
        ),
    }


@pytest.fixture
def make_member(db) -> Callable[..., Member]:
    def make(*, points: int = 0, **fields: Any) -> Member:
        fields.setdefault("card_number", str(next(_card_numbers)))
        fields.setdefault("birth_date", datetime.date(1990, 4, 1))
        fields.setdefault("joined_on", datetime.date(2020, 1, 1))
        fields.setdefault("name", "山田 花子")
        member = Member.objects.create(**fields)
        if points:
            grant_points(member, points)
            member.refresh_from_db()
        return member

    return make


def grant_points(member: Member, points: int, **kwargs: Any) -> None:
    """Give a member points through the real ledger (a bonus lot)."""
    from django.db import transaction

    with transaction.atomic():
        locked = member_lock(member.pk)
        points_credit(
            member=locked,
            points=points,
            kind=kwargs.pop("kind", "bonus"),
            reference="test",
            idempotency_key=f"test:{uuid.uuid4()}",
            actor="system:test",
            **kwargs,
        )


@pytest.fixture
def card_code(db) -> Callable[[Member], str]:
    return lambda member: card_code_issue(member=member).code


class PosClient:
    """The POS API over Django's test client, authenticated as one terminal."""

    def __init__(self, api_key: str) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {api_key}"}

    def post(self, path: str, body: Any, *, key: str | None = None):
        """POST JSON; a ``str`` body is sent as is (for malformed-JSON tests)."""
        headers = dict(self.headers)
        if key is not None:
            headers["Idempotency-Key"] = key
        return self.client.post(
            f"/api/pos/v1{path}",
            data=body,
            content_type="application/json",
            headers=headers,
        )

    def get(self, path: str):
        return self.client.get(f"/api/pos/v1{path}", headers=self.headers)

    def purchase(self, *, key: str | None = None, **body: Any):
        body.setdefault("receipt_number", f"R-{uuid.uuid4().hex[:12]}")
        body.setdefault("occurred_at", (timezone.now() - datetime.timedelta(minutes=1)).isoformat())
        return self.post("/purchases", body, key=key or str(uuid.uuid4()))

    def refund(self, purchase_id: int, *, key: str | None = None, **body: Any):
        body.setdefault("refund_receipt_number", f"RR-{uuid.uuid4().hex[:12]}")
        body.setdefault("occurred_at", timezone.now().isoformat())
        return self.post(f"/purchases/{purchase_id}/refunds", body, key=key or str(uuid.uuid4()))


@pytest.fixture
def pos(terminal) -> PosClient:
    return PosClient(terminal.api_key)


@pytest.fixture
def other_pos(other_terminal) -> PosClient:
    return PosClient(other_terminal.api_key)
