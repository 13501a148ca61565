"""Streaming CSV exports: BOM and Japanese header, filters, masking, CSV injection, volume."""

import csv
import datetime
import io
import time
import tracemalloc
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.http import StreamingHttpResponse
from django.test import Client
from django.utils import timezone

from hq.services.exports import csv_safe, mask_email, mask_name, mask_phone
from pos_bridge.models import Purchase, PurchaseItem, StaffRole
from pos_bridge.services.staff import staff_member_create
from tests.conftest import grant_points

JST = datetime.timezone(datetime.timedelta(hours=9))


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _group_client(name: str) -> Client:
    user = get_user_model().objects.create_user(username=name, password="x")
    user.groups.add(Group.objects.get_or_create(name=name)[0])
    return _client(user)


@pytest.fixture
def admin(db) -> Client:
    return _group_client("hq_admin")


@pytest.fixture
def analyst(db) -> Client:
    return _group_client("hq_analyst")


@pytest.fixture
def manager(store) -> Client:
    user = get_user_model().objects.create_user(username="manager", password="x")
    staff_member_create(user=user, store=store, role=StaffRole.STORE_MANAGER)
    return _client(user)


def _purchase(terminal, receipt: str, when: datetime.datetime, total: int = 1000, **fields):
    t = terminal.terminal
    return Purchase.objects.create(
        store=t.store, terminal=t, receipt_number=receipt, occurred_at=when, total=total, **fields
    )


def _chunks(response) -> Iterator[bytes]:
    assert isinstance(response, StreamingHttpResponse)
    content = response.streaming_content
    assert isinstance(content, Iterator)
    return content


def _body(response) -> str:
    return b"".join(_chunks(response)).decode("utf-8")


def _rows(response) -> list[list[str]]:
    body = _body(response)
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def test_purchases_csv_starts_with_bom_and_japanese_header(admin, terminal, make_member):
    member = make_member()
    _purchase(terminal, "R-1", datetime.datetime(2026, 5, 1, 10, 30, tzinfo=JST), member=member)
    response = admin.get("/hq/exports/purchases.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="purchases-')
    raw = b"".join(_chunks(response))
    assert raw.startswith(b"\xef\xbb\xbf")
    header, row = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert header[:6] == [
        "購入ID",
        "店舗コード",
        "店舗名",
        "レシート番号",
        "購入日時",
        "合計(税込)",
    ]
    assert row[1:6] == ["shibuya", "渋谷店", "R-1", "2026-05-01 10:30:00", "1000"]
    assert row[10] == member.card_number


@pytest.mark.parametrize("kind", ["purchases", "items", "ledger", "members"])
def test_every_export_has_a_japanese_header(admin, kind):
    header = _rows(admin.get(f"/hq/exports/{kind}.csv"))[0]
    assert header
    assert all(any("\u3040" <= ch <= "\u9fff" for ch in cell) or cell == "SKU" for cell in header)


def test_date_filter_uses_local_days_inclusive(admin, terminal):
    _purchase(terminal, "before", datetime.datetime(2026, 4, 30, 23, 59, tzinfo=JST))
    _purchase(terminal, "first", datetime.datetime(2026, 5, 1, 0, 0, tzinfo=JST))
    _purchase(terminal, "last", datetime.datetime(2026, 5, 31, 23, 59, tzinfo=JST))
    _purchase(terminal, "after", datetime.datetime(2026, 6, 1, 0, 0, tzinfo=JST))
    rows = _rows(admin.get("/hq/exports/purchases.csv?from=2026-05-01&to=2026-05-31"))
    assert sorted(r[3] for r in rows[1:]) == ["first", "last"]


def test_store_filter(admin, terminal, other_terminal):
    now = timezone.now()
    _purchase(terminal, "S-1", now)
    _purchase(other_terminal, "Y-1", now)
    rows = _rows(admin.get("/hq/exports/purchases.csv?store=yokohama"))
    assert [r[3] for r in rows[1:]] == ["Y-1"]


def test_items_export_filters_by_store_and_date(admin, terminal, other_terminal):
    mine = _purchase(terminal, "S-1", datetime.datetime(2026, 5, 2, 12, tzinfo=JST))
    old = _purchase(terminal, "S-0", datetime.datetime(2026, 1, 2, 12, tzinfo=JST))
    theirs = _purchase(other_terminal, "Y-1", datetime.datetime(2026, 5, 2, 12, tzinfo=JST))
    for purchase in (mine, old, theirs):
        PurchaseItem.objects.create(
            purchase=purchase,
            sku=f"SKU-{purchase.receipt_number}",
            name="石鹸",
            category="soap",
            quantity=3,
            unit_price=250,
        )
    rows = _rows(admin.get("/hq/exports/items.csv?store=shibuya&from=2026-05-01"))
    assert len(rows) == 2
    assert rows[1][5:] == ["SKU-S-1", "石鹸", "soap", "3", "250", "750"]


def test_invalid_dates_are_a_400(admin):
    assert admin.get("/hq/exports/purchases.csv?from=2026-13-01").status_code == 400
    assert admin.get("/hq/exports/purchases.csv?from=2026-05-02&to=2026-05-01").status_code == 400


def test_unknown_export_is_a_404(admin):
    assert admin.get("/hq/exports/secrets.csv").status_code == 404


def test_store_manager_gets_only_own_store(manager, terminal, other_terminal):
    now = timezone.now()
    _purchase(terminal, "S-1", now)
    _purchase(other_terminal, "Y-1", now)
    rows = _rows(manager.get("/hq/exports/purchases.csv"))
    assert [r[3] for r in rows[1:]] == ["S-1"]
    assert manager.get("/hq/exports/members.csv").status_code == 403
    assert manager.get("/hq/exports/ledger.csv").status_code == 403


def test_admin_sees_full_personal_data(admin, make_member):
    make_member(
        name="山田 花子",
        name_kana="ヤマダ ハナコ",
        phone="090-1234-5678",
        email="hanako@example.com",
        birth_date=datetime.date(1990, 4, 1),
        gender="female",
    )
    header, row = _rows(admin.get("/hq/exports/members.csv"))
    record = dict(zip(header, row, strict=True))
    assert record["氏名"] == "山田 花子"
    assert record["電話番号"] == "090-1234-5678"
    assert record["メールアドレス"] == "hanako@example.com"
    assert record["生年月日"] == "1990-04-01"
    assert record["性別"] == "女性"


def test_analyst_gets_masked_personal_data(analyst, make_member):
    member = make_member(
        name="山田 花子",
        name_kana="ヤマダ ハナコ",
        phone="090-1234-5678",
        email="hanako@example.com",
        birth_date=datetime.date(1990, 4, 1),
    )
    body = _body(analyst.get("/hq/exports/members.csv"))
    header, row = list(csv.reader(io.StringIO(body[1:])))
    record = dict(zip(header, row, strict=True))
    assert record["会員番号"] == member.card_number
    assert record["氏名"] == "山田 *"
    assert record["氏名(カナ)"] == "ヤマダ *"
    assert record["電話番号"] == "***-****-**78"
    assert record["メールアドレス"] == "h***@example.com"
    assert record["生年月日"] == "1990"
    for secret in ("花子", "ハナコ", "1234", "hanako", "04-01"):
        assert secret not in body


def test_ledger_export_keeps_negative_deltas_as_numbers(admin, make_member):
    member = make_member(points=300)
    grant_points(member, 50)
    rows = _rows(admin.get("/hq/exports/ledger.csv"))
    assert len(rows) == 3
    assert rows[0][:4] == ["履歴ID", "会員番号", "発生日時", "種別"]
    assert {r[1] for r in rows[1:]} == {member.card_number}
    assert csv_safe(-5) == -5


@pytest.mark.parametrize(
    "payload", ['=HYPERLINK("http://evil")', "+1+1", "-2+3", "@SUM(A1)", "\t=1"]
)
def test_csv_injection_is_neutralised(admin, terminal, payload):
    purchase = _purchase(terminal, "R-1", timezone.now())
    PurchaseItem.objects.create(
        purchase=purchase, sku="X", name=payload, category="c", quantity=1, unit_price=1
    )
    rows = _rows(admin.get("/hq/exports/items.csv"))
    assert rows[1][6] == "'" + payload


def test_masking_helpers():
    assert mask_name("山田 花子") == "山田 *"
    assert mask_name("") == ""
    assert mask_phone("") == ""
    assert mask_email("") == ""
    assert mask_email("no-at-sign") == "**********"


def test_hundred_thousand_purchases_stream_in_flat_memory(admin, terminal):
    t = terminal.terminal
    when = timezone.now()
    rows = 100_000
    Purchase.objects.bulk_create(
        (
            Purchase(
                store_id=t.store_id,
                terminal=t,
                receipt_number=f"R-{n:06d}",
                occurred_at=when,
                total=1000 + n % 500,
            )
            for n in range(rows)
        ),
        batch_size=5000,
    )
    started = time.monotonic()
    response = admin.get("/hq/exports/purchases.csv")
    assert isinstance(response, StreamingHttpResponse)
    tracemalloc.start()
    try:
        lines = chunks = 0
        for chunk in _chunks(response):
            chunks += 1
            lines += chunk.count(b"\r\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == rows + 1
    assert chunks > 100
    # The whole CSV is ~6 MB; a streamed export holds a few chunks, never all rows.
    assert peak < 5 * 1024 * 1024, peak
    assert time.monotonic() - started < 60
