"""Segments: the selector's counts equal an independent Python computation over the same
fixtures, the HQ form saves (audited) and refuses bad input in Japanese, and the live count
endpoint answers what the page would."""

import dataclasses
import datetime
import random
import uuid
from typing import Any

import pytest
from django.utils import timezone

from audit.models import AuditAction, AuditEntry
from broadcasts.models import Segment
from broadcasts.selectors import (
    SegmentCriteria,
    segment_count,
    segment_criteria,
    segment_members,
)
from line_messaging.models import LineFriend
from membership.models import Member, MemberStatus, PointEntry, PointLot
from pos_bridge.models import Purchase, PurchaseItem
from pos_bridge.services.stores import store_create
from tests.broadcasts.conftest import new_user_id

TODAY = datetime.date(2026, 6, 15)
CATEGORIES = ["cosmetics", "skincare", "food", "apparel"]
PREFS = ["東京都", "神奈川県", "大阪府", ""]


def _aware(day: datetime.date, hour: int = 12) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour)))


@pytest.fixture
def world(db, tiers, terminal, store, other_store):
    """80 members with varied profiles, friends, purchases, items, refunds and lots."""
    rng = random.Random(20260615)
    third = store_create(code="umeda", name="梅田店", prefecture="大阪府")
    stores = [store, other_store, third]
    tier_list = [None, *tiers.values()]
    members = []
    for i in range(80):
        member = Member.objects.create(
            card_number=f"5{i:07d}",
            name=f"会員{i}",
            birth_date=datetime.date(1950 + rng.randrange(55), rng.randrange(1, 13), 1),
            gender=rng.choice(["female", "male", "other", ""]),
            prefecture=rng.choice(PREFS),
            joined_on=datetime.date(2018, 1, 1) + datetime.timedelta(days=rng.randrange(3000)),
            status=MemberStatus.WITHDRAWN if i % 37 == 5 else MemberStatus.ACTIVE,
            tier=rng.choice(tier_list),
            points_balance=rng.choice([0, 50, 300, 1200, 5000]),
        )
        members.append(member)
        state = rng.random()
        if state > 0.15:  # 85% linked
            LineFriend.objects.create(
                user_id=new_user_id(),
                member=member,
                is_blocked=state > 0.9,
                marketing_opt_in=rng.random() > 0.15,
                linked_at=_aware(
                    datetime.date(2024, 1, 1) + datetime.timedelta(days=rng.randrange(800))
                ),
            )
        for _ in range(rng.randrange(5)):
            day = TODAY - datetime.timedelta(days=rng.randrange(400))
            total = rng.randrange(500, 20000)
            refunded = rng.choice([0, 0, 0, total // 2, total])
            purchase = Purchase.objects.create(
                store=rng.choice(stores),
                terminal=terminal.terminal,
                receipt_number=uuid.uuid4().hex[:12],
                occurred_at=_aware(day, rng.randrange(0, 24)),
                total=total,
                refunded_amount=refunded,
                member=member,
            )
            for _ in range(rng.randrange(1, 3)):
                PurchaseItem.objects.create(
                    purchase=purchase,
                    sku="SKU",
                    category=rng.choice(CATEGORIES),
                    quantity=1,
                    unit_price=100,
                )
        if rng.random() > 0.5:
            points = rng.randrange(10, 500)
            entry = PointEntry.objects.create(
                member=member,
                kind="bonus",
                delta=points,
                balance_after=points,
                reference="test",
                actor="system:test",
                idempotency_key=uuid.uuid4().hex,
                occurred_at=timezone.now(),
            )
            PointLot.objects.create(
                member=member,
                entry=entry,
                points=points,
                remaining=rng.choice([0, points]),
                expires_on=TODAY + datetime.timedelta(days=rng.randrange(-10, 90)),
            )
    return {"stores": stores, "tiers": tiers}


def _local_date(moment: datetime.datetime) -> datetime.date:
    return timezone.localtime(moment).date()


def _age(birth: datetime.date, today: datetime.date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def reference_ids(criteria: SegmentCriteria, today: datetime.date) -> set[int]:
    """The segment computed member by member in plain Python (the slow, obvious way)."""
    selected = set()
    for member in Member.objects.all():
        friend = LineFriend.objects.filter(member=member).first()
        if member.status != MemberStatus.ACTIVE or friend is None:
            continue
        if friend.is_blocked or not friend.marketing_opt_in:
            continue
        c = criteria
        if c.tier_ids and member.tier_id not in c.tier_ids:
            continue
        if c.genders and member.gender not in c.genders:
            continue
        age = _age(member.birth_date, today)
        if c.age_min is not None and age < c.age_min:
            continue
        if c.age_max is not None and age > c.age_max:
            continue
        if c.prefectures and member.prefecture not in c.prefectures:
            continue
        if c.joined_from and member.joined_on < c.joined_from:
            continue
        if c.joined_to and member.joined_on > c.joined_to:
            continue
        linked_on = _local_date(friend.linked_at) if friend.linked_at else None
        if c.linked_from and (linked_on is None or linked_on < c.linked_from):
            continue
        if c.linked_to and (linked_on is None or linked_on > c.linked_to):
            continue
        purchases = list(Purchase.objects.filter(member=member))
        if c.last_purchase_from or c.last_purchase_to:
            if not purchases:
                continue
            last = max(_local_date(p.occurred_at) for p in purchases)
            if c.last_purchase_from and last < c.last_purchase_from:
                continue
            if c.last_purchase_to and last > c.last_purchase_to:
                continue
        if c.window_days is not None:
            since = today - datetime.timedelta(days=c.window_days - 1)
            purchases = [p for p in purchases if _local_date(p.occurred_at) >= since]
        counted = [p for p in purchases if p.refunded_amount < p.total]
        if c.purchase_count_min is not None and len(counted) < c.purchase_count_min:
            continue
        if c.purchase_count_max is not None and len(counted) > c.purchase_count_max:
            continue
        spend = sum(p.total - p.refunded_amount for p in purchases)
        if c.spend_min is not None and spend < c.spend_min:
            continue
        if c.spend_max is not None and spend > c.spend_max:
            continue
        if c.store_ids and not any(p.store_id in c.store_ids for p in counted):
            continue
        if c.categories:
            bought = {
                item.category for p in counted for item in PurchaseItem.objects.filter(purchase=p)
            }
            if not bought & set(c.categories):
                continue
        if c.balance_min is not None and member.points_balance < c.balance_min:
            continue
        if c.balance_max is not None and member.points_balance > c.balance_max:
            continue
        if c.expiring_within_days is not None:
            last_day = today + datetime.timedelta(days=c.expiring_within_days)
            if not PointLot.objects.filter(
                member=member, remaining__gt=0, expires_on__gte=today, expires_on__lte=last_day
            ).exists():
                continue
        selected.add(member.pk)
    return selected


CASES: list[dict[str, Any]] = [
    {},
    {"genders": ("female",), "age_min": 30, "age_max": 49},
    {"prefectures": ("東京都", "神奈川県"), "tiers": ["gold", "silver"]},
    {"window_days": 90, "purchase_count_min": 1},
    {"window_days": 365, "purchase_count_min": 2, "spend_min": 10000},
    {"purchase_count_max": 0},
    {"spend_max": 5000, "balance_min": 300},
    {"stores": ["yokohama"], "window_days": 180},
    {"categories": ("cosmetics", "skincare")},
    {"categories": ("food",), "window_days": 30},
    {
        "last_purchase_from": datetime.date(2026, 3, 1),
        "last_purchase_to": datetime.date(2026, 5, 31),
    },
    {"last_purchase_to": datetime.date(2025, 12, 31)},
    {"joined_from": datetime.date(2020, 1, 1), "joined_to": datetime.date(2023, 12, 31)},
    {"linked_from": datetime.date(2025, 1, 1), "balance_max": 1200},
    {"expiring_within_days": 30},
    {"genders": ("",), "prefectures": ("",)},
    {"tiers": ["regular"], "stores": ["shibuya", "umeda"], "expiring_within_days": 60},
    # Grouped purchase totals with an upper bound too, and an explicit 0 lower bound (members
    # without purchases qualify).
    {"window_days": 180, "purchase_count_min": 1, "spend_max": 8000},
    {"purchase_count_min": 0, "spend_min": 0, "spend_max": 20000, "linked_to": TODAY},
    {"window_days": 365, "spend_min": 1, "purchase_count_max": 2, "categories": ("food",)},
    {"window_days": 90, "purchase_count_max": 0, "spend_max": 100},
]


def _criteria(case: dict[str, Any], world) -> SegmentCriteria:
    case = dict(case)
    tiers = case.pop("tiers", [])
    stores = case.pop("stores", [])
    return SegmentCriteria(
        tier_ids=tuple(world["tiers"][code].pk for code in tiers),
        store_ids=tuple(s.pk for s in world["stores"] if s.code in stores),
        **case,
    )


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_segment_count_matches_a_reference_computation(world, case):
    criteria = _criteria(case, world)

    expected = reference_ids(criteria, TODAY)

    assert segment_count(criteria=criteria, today=TODAY) == len(expected)


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_paging_after_a_member_id_yields_the_whole_segment_once(world, case):
    """The background job pages with ``after_member_id`` (pushed into every subquery)."""
    criteria = _criteria(case, world)
    everyone = list(
        segment_members(criteria=criteria, today=TODAY).order_by("pk").values_list("pk", flat=True)
    )
    paged: list[int] = []
    cursor = 0
    while True:
        page = list(
            segment_members(criteria=criteria, today=TODAY, after_member_id=cursor)
            .order_by("pk")
            .values_list("pk", "line_friend__user_id")[:7]
        )
        if not page:
            break
        assert all(user_id for _pk, user_id in page)
        paged += [pk for pk, _user_id in page]
        cursor = page[-1][0]

    assert paged == everyone
    assert len(everyone) == segment_count(criteria=criteria, today=TODAY)


def test_the_fixtures_exercise_the_filters(world):
    """Guard against a vacuous comparison: most cases select some but not all members."""
    counts = [len(reference_ids(_criteria(case, world), TODAY)) for case in CASES]
    everyone = counts[0]

    assert everyone > 20
    assert sum(1 for n in counts[1:] if 0 < n < everyone) >= 10


def test_saved_segment_has_the_same_count_as_its_criteria(world, hq_admin):
    response = hq_admin.post(
        "/hq/segments/new/",
        {
            "name": "東京・神奈川の女性",
            "genders": ["female"],
            "prefectures": ["東京都", "神奈川県"],
            "window_days": "365",
            "purchase_count_min": "1",
        },
    )

    assert response.status_code == 302
    segment = Segment.objects.get(name="東京・神奈川の女性")
    criteria = segment_criteria(segment=segment)
    assert criteria == dataclasses.replace(
        SegmentCriteria(),
        genders=("female",),
        prefectures=("東京都", "神奈川県"),
        window_days=365,
        purchase_count_min=1,
    )
    page = hq_admin.get(response["Location"])
    expected = segment_count(criteria=criteria)
    assert f'id="segment-count">{expected}<' in page.content.decode()
    entry = AuditEntry.objects.get(target_type="broadcasts.segment", target_id=str(segment.pk))
    assert entry.action == AuditAction.CREATE and entry.after["genders"] == ["female"]


def test_edit_segment_is_audited_with_before_and_after(db, hq_admin):
    created = hq_admin.post("/hq/segments/new/", {"name": "A", "balance_min": "100"})
    segment = Segment.objects.get(name="A")

    response = hq_admin.post(f"/hq/segments/{segment.pk}/", {"name": "A2", "balance_min": "200"})

    assert created.status_code == 302 and response.status_code == 302
    entry = AuditEntry.objects.filter(target_id=str(segment.pk), action=AuditAction.UPDATE).get()
    assert entry.before["balance_min"] == 100 and entry.after["balance_min"] == 200
    assert entry.after["name"] == "A2"


def test_count_button_shows_the_count_without_javascript_and_saves_nothing(world, hq_admin):
    response = hq_admin.post(
        "/hq/segments/new/", {"name": "試算", "balance_min": "300", "preview": "1"}
    )

    expected = segment_count(criteria=SegmentCriteria(balance_min=300))
    assert response.status_code == 200
    assert f'id="segment-count">{expected}<' in response.content.decode()
    assert not Segment.objects.exists()


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"name": "x", "age_min": "50", "age_max": "20"}, "age_max", "年齢の範囲が逆"),
        ({"name": "x", "joined_from": "2024-13-01"}, "joined_from", "日付"),
        ({"name": "x", "window_days": "-3"}, "window_days", "以上"),
        ({"name": "", "balance_min": "1"}, "name", "必須"),
        ({"name": "x", "genders": ["robot"]}, "genders", "正しく選択"),
    ],
)
def test_bad_segment_input_is_refused_in_japanese_and_nothing_is_written(
    db, hq_admin, data, field, message
):
    response = hq_admin.post("/hq/segments/new/", data)

    assert response.status_code == 400
    assert message in " ".join(str(e) for e in response.context["form"].errors[field])
    assert not Segment.objects.exists()
    assert not AuditEntry.objects.exists()


def test_live_count_endpoint_counts_the_form_as_it_is(world, analyst):
    response = analyst.get(
        "/hq/segments/count.json",
        {"genders": ["female", "male"], "window_days": "90", "purchase_count_min": "1"},
    )

    expected = segment_count(
        criteria=SegmentCriteria(genders=("female", "male"), window_days=90, purchase_count_min=1)
    )
    assert response.status_code == 200
    assert response.json() == {"count": expected}


def test_live_count_endpoint_explains_bad_input(db, analyst):
    response = analyst.get("/hq/segments/count.json", {"spend_min": "abc"})

    assert response.status_code == 400
    assert "spend_min" in response.json()["errors"]
