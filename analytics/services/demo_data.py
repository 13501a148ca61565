"""Chain-scale demo data for the dashboard: stores, members, LINE friends and links,
purchases with items, refunds, and a point ledger that ``check_ledger`` accepts.

Written for speed, not through the per-sale services (5,000,000 sales through the POS API
would take hours): each member's whole history is simulated in memory in time order with
the ledger's own rules (a lot per credit, debits drawn soonest-expiring first, a
``balance_after`` per entry, expiry of lots past their last day, refunds reversing points
in proportion and recording what could not be taken back), then written in one go per
batch of members: ``COPY`` on PostgreSQL, multi-row inserts on SQLite. Each batch commits
on its own with all rows of its members, so an interrupted run leaves a consistent ledger.

Primary keys are assigned here from each table's current maximum, and the sequences are
moved past them at the end: run it on a database nobody else is writing to.
"""

import datetime
import hashlib
import heapq
import io
import random
import secrets
import time
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Max

from common.errors import ApplicationError
from line_messaging.models import LineFriend, LinkAction, LinkEvent, LinkSource
from membership.models import (
    PREFECTURES,
    EntryKind,
    LotConsumption,
    Member,
    PointEntry,
    PointLot,
    Tier,
)
from membership.services.points import point_program_get
from pos_bridge.models import Purchase, PurchaseItem, Refund, Store, Terminal, TerminalKind

STORE_CODE_PREFIX = "demo-"
CARD_NUMBER_PREFIX = "7"
MEMBER_SHARE_OF_PURCHASES = 0.7
LINKED_SHARE = 0.4
EXTRA_FRIENDS_SHARE = 0.3  # friends who never linked, per member
BLOCKED_SHARE = 0.08
REFUND_SHARE = 0.02
REDEEM_SHARE = 0.15
HOME_STORE_SHARE = 0.85

_SURNAMES = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤"]
_GIVEN = ["花子", "太郎", "陽菜", "蓮", "結衣", "大翔", "さくら", "悠真", "美咲", "翔太"]
_CATALOGUE = [
    (f"SKU-{i:04d}", f"商品{i:04d}", category, price)
    for i, (category, price) in enumerate(
        (cat, price)
        for cat, prices in (
            ("food", (120, 198, 298, 398, 580)),
            ("drink", (98, 150, 248, 350)),
            ("cosmetics", (880, 1280, 1980, 3300, 5500)),
            ("daily", (198, 398, 698, 980)),
            ("apparel", (1990, 2990, 4990, 7990)),
        )
        for price in prices
    )
]


class DemoDataExists(ApplicationError):
    code = "demo_data_exists"
    status = 409
    default_message = "demo data is already loaded (stores demo-*): use a fresh database"


@dataclass
class DemoResult:
    stores: int = 0
    members: int = 0
    friends: int = 0
    links: int = 0
    purchases: int = 0
    items: int = 0
    refunds: int = 0
    entries: int = 0


# --- writing rows fast -------------------------------------------------------------------------


class _Table:
    """Rows for one model: the columns we fill, then every other column at its default."""

    def __init__(self, model: type[models.Model], columns: Sequence[str], postgres: bool) -> None:
        self.model = model
        self.name = model._meta.db_table
        fields = {str(f.column): f for f in model._meta.concrete_fields}
        self.rest: list[str] = [c for c in fields if c not in columns]
        self.columns = list(columns) + self.rest
        tail = []
        for column in self.rest:
            f = fields[column]
            value = f.get_default() if f.has_default() else None
            if value is None and not f.null:
                raise RuntimeError(f"{self.name}.{column} needs a value from the demo generator")
            tail.append(value)
        self.postgres = postgres
        self.tail = tuple(_pg_text(v) for v in tail) if postgres else tuple(tail)
        self.rows: list[Any] = []
        self.next_id = (model._default_manager.aggregate(m=Max("id"))["m"] or 0) + 1

    def take_id(self) -> int:
        value = self.next_id
        self.next_id += 1
        return value

    def add(self, row: tuple) -> None:
        if self.postgres:
            self.rows.append("\t".join(map(_pg_text, row + self.tail)))
        else:
            self.rows.append(row + self.tail)

    def add_plain(self, row: tuple) -> None:
        """``add`` for rows of ints and tab-free strings only (no None or bool): the hot
        tables, millions of rows."""
        if self.postgres:
            self.rows.append("\t".join(map(str, row + self.tail)))
        else:
            self.rows.append(row + self.tail)

    def flush(self) -> int:
        count = len(self.rows)
        if not count:
            return 0
        with connection.cursor() as cursor:
            if self.postgres:
                copy_sql = f'COPY "{self.name}" ({", ".join(self.columns)}) FROM STDIN'
                with cursor.cursor.copy(copy_sql) as copy:
                    buffer = io.StringIO()
                    for start in range(0, count, 50_000):
                        buffer.seek(0)
                        buffer.truncate()
                        buffer.write("\n".join(self.rows[start : start + 50_000]))
                        buffer.write("\n")
                        copy.write(buffer.getvalue())
            else:
                marks = ", ".join(["%s"] * len(self.columns))
                # Table and column names come from model metadata, values are parameters.
                sql = f'INSERT INTO "{self.name}" ({", ".join(self.columns)}) VALUES ({marks})'  # noqa: S608
                for start in range(0, count, 5_000):
                    cursor.executemany(sql, self.rows[start : start + 5_000])
        self.rows = []
        return count

    def sequence_update(self) -> None:
        if not self.postgres:
            return  # SQLite continues after the largest id by itself
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence(%s, 'id'), "  # noqa: S608 (names from model metadata)
                f'GREATEST((SELECT MAX(id) FROM "{self.name}"), 1))',
                [self.name],
            )


def _pg_text(value: Any) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    return str(value)


class _Clock:
    """Seconds since the start of the demo period → database text, without datetime objects
    (millions of timestamps): local midnight of each day is looked up once."""

    def __init__(self, *, first_day: datetime.date, days: int, postgres: bool) -> None:
        self.tz = ZoneInfo(settings.TIME_ZONE)
        self.first_day = first_day
        self.postgres = postgres
        self.start = datetime.datetime.combine(first_day, datetime.time.min, tzinfo=self.tz)
        self._day_text: dict[int, str] = {}

    def local_day(self, t: int) -> int:
        return t // 86_400

    def date(self, day: int) -> datetime.date:
        return self.first_day + datetime.timedelta(days=day)

    def text(self, t: int) -> str:
        day, seconds = divmod(t, 86_400)
        if not self.postgres:
            moment = self.start + datetime.timedelta(seconds=t)
            return moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
        prefix = self._day_text.get(day)
        if prefix is None:
            midnight = datetime.datetime.combine(self.date(day), datetime.time(12), tzinfo=self.tz)
            offset = midnight.strftime("%z")
            prefix = f"{self.date(day).isoformat()} %02d:%02d:%02d{offset[:3]}:{offset[3:]}"
            self._day_text[day] = prefix
        hours, rest = divmod(seconds, 3600)
        return prefix % (hours, rest // 60, rest % 60)


# --- the simulation ----------------------------------------------------------------------------


@dataclass
class _Lot:
    id: int
    entry_id: int
    points: int
    remaining: int
    expires_day: int  # demo day index of the last valid day
    purchase_id: int = 0


@dataclass
class _Ledger:
    """One member's ledger while it is being simulated (the same rules as points.py)."""

    member_id: int
    balance: int = 0
    # Credits come in time order and all lots last equally long, so this list is already
    # soonest-expiring first; lots before ``first_open`` are used up.
    lots: list[_Lot] = field(default_factory=list)
    first_open: int = 0


class _Generator:
    def __init__(
        self,
        *,
        members: int,
        purchases: int,
        stores: int,
        days: int,
        seed: int,
        batch: int,
        log: Callable[[str], None],
    ) -> None:
        self.rng = random.Random(seed)
        self.n_members = members
        self.n_purchases = purchases
        self.n_stores = stores
        self.days = days
        self.batch = batch
        self.log = log
        self.postgres = connection.vendor == "postgresql"
        self.today = datetime.datetime.now(ZoneInfo(settings.TIME_ZONE)).date()
        first_day = self.today - datetime.timedelta(days=days - 1)
        self.clock = _Clock(first_day=first_day, days=days, postgres=self.postgres)
        now = datetime.datetime.now(ZoneInfo(settings.TIME_ZONE))
        self.now_t = int((now - self.clock.start).total_seconds()) - 60
        program = point_program_get()
        self.yen_per_point = program.yen_per_point
        self.valid_days = program.points_valid_days
        self.bonus = settings.LINE_LINK_BONUS_POINTS
        self.result = DemoResult()
        self.skip_fk_checks = self.postgres and _is_superuser()
        self.flush_seconds: dict[str, float] = {}

    # ---- setup ----

    def tables(self) -> None:
        pg = self.postgres
        self.t_member = _Table(
            Member,
            ["id", "card_number", "name", "name_kana", "birth_date", "gender", "prefecture",
             "phone", "email", "joined_on", "status", "tier_id", "points_balance",
             "created_at", "updated_at"],
            pg,
        )  # fmt: skip
        self.t_friend = _Table(
            LineFriend,
            ["id", "user_id", "display_name", "is_blocked", "followed_at", "blocked_at",
             "follow_state_timestamp", "member_id", "linked_at", "link_source",
             "acquired_store_id", "created_at", "updated_at"],
            pg,
        )  # fmt: skip
        self.t_link = _Table(
            LinkEvent,
            ["id", "friend_id", "member_id", "action", "source", "store_id", "occurred_at"],
            pg,
        )
        self.t_purchase = _Table(
            Purchase,
            ["id", "store_id", "terminal_id", "receipt_number", "occurred_at", "total",
             "member_id", "identified_by", "points_redeemed", "points_earned",
             "refunded_amount", "points_reversed", "points_restored", "points_unrecovered",
             "created_at"],
            pg,
        )  # fmt: skip
        self.t_item = _Table(
            PurchaseItem,
            ["id", "purchase_id", "sku", "name", "category", "quantity", "unit_price"],
            pg,
        )
        self.t_refund = _Table(
            Refund,
            ["id", "purchase_id", "store_id", "terminal_id", "refund_receipt_number", "amount",
             "occurred_at", "points_reversed", "points_restored", "points_unrecovered",
             "created_at"],
            pg,
        )  # fmt: skip
        self.t_entry = _Table(
            PointEntry,
            ["id", "member_id", "kind", "delta", "balance_after", "reference", "reason",
             "actor", "idempotency_key", "occurred_at", "created_at"],
            pg,
        )  # fmt: skip
        self.t_lot = _Table(
            PointLot, ["id", "member_id", "entry_id", "points", "remaining", "expires_on"], pg
        )
        self.t_consumption = _Table(LotConsumption, ["id", "entry_id", "lot_id", "points"], pg)
        self.all_tables = [
            self.t_member, self.t_friend, self.t_link, self.t_purchase, self.t_item,
            self.t_refund, self.t_entry, self.t_lot, self.t_consumption,
        ]  # fmt: skip

    def setup_catalogue(self) -> None:
        if not Tier.objects.exists():
            Tier.objects.bulk_create(
                [
                    Tier(code="regular", name="レギュラー", min_spend_12m=0),
                    Tier(
                        code="silver", name="シルバー", min_spend_12m=50_000, earn_rate_percent=150
                    ),
                    Tier(
                        code="gold", name="ゴールド", min_spend_12m=200_000, earn_rate_percent=200
                    ),
                ]
            )
        self.tiers = list(Tier.objects.order_by("-min_spend_12m"))
        stores = [
            Store(
                code=f"{STORE_CODE_PREFIX}{i + 1:03d}",
                name=f"デモ{PREFECTURES[i % len(PREFECTURES)]}{i + 1}号店",
                prefecture=PREFECTURES[i % len(PREFECTURES)],
            )
            for i in range(self.n_stores)
        ]
        Store.objects.bulk_create(stores)
        self.stores = list(
            Store.objects.filter(code__startswith=STORE_CODE_PREFIX).order_by("code")
        )
        # Terminals nobody can use: a random hash no key matches.
        Terminal.objects.bulk_create(
            Terminal(
                store=s,
                name="demo-register",
                kind=TerminalKind.POS,
                key_prefix=secrets.token_hex(8),
                key_hash=hashlib.sha256(secrets.token_bytes(32)).hexdigest(),
            )
            for s in self.stores
        )
        self.terminal_by_store = dict(
            Terminal.objects.filter(store__in=self.stores).values_list("store_id", "id")
        )
        self.store_ids = [s.pk for s in self.stores]
        # Big stores and small ones: weights 1/rank^0.8.
        weights = [1 / (rank + 1) ** 0.8 for rank in range(len(self.stores))]
        total = sum(weights)
        self.store_cum = list(_cumulative([w / total for w in weights]))
        self.result.stores = len(self.stores)

    def store_pick(self) -> int:
        return self.store_ids[_bisect(self.store_cum, self.rng.random())]

    # ---- purchases per member ----

    def visits_per_member(self) -> array:
        """Purchases per member (a few loyal regulars, many occasional), summing exactly to
        the member share of the purchases."""
        target = round(self.n_purchases * MEMBER_SHARE_OF_PURCHASES) if self.n_members else 0
        counts = array("I", [0] * self.n_members)
        if not self.n_members:
            return counts
        mean = target / self.n_members
        rng = self.rng
        assigned = 0
        for i in range(self.n_members):
            value = int(rng.expovariate(1 / mean)) if mean > 0 else 0
            counts[i] = value
            assigned += value
        while assigned != target:
            i = rng.randrange(self.n_members)
            if assigned < target:
                counts[i] += 1
                assigned += 1
            elif counts[i]:
                counts[i] -= 1
                assigned -= 1
        return counts

    def purchase_time(self, earliest: int = 0) -> int:
        day = self.rng.randrange(self.days)
        t = day * 86_400 + self.rng.randrange(10 * 3600, 21 * 3600)
        t = max(t, earliest)
        return min(t, self.now_t)

    def basket(self, purchase_id: int) -> int:
        total = 0
        for _ in range(1 + int(self.rng.random() * 2.2)):
            sku, name, category, price = self.rng.choice(_CATALOGUE)
            quantity = 1 if self.rng.random() < 0.8 else 2
            total += price * quantity
            self.t_item.add_plain(
                (self.t_item.take_id(), purchase_id, sku, name, category, quantity, price)
            )
            self.result.items += 1
        return total

    # ---- the ledger ----

    def entry(
        self,
        ledger: _Ledger,
        *,
        kind: str,
        delta: int,
        reference: str,
        key: str,
        actor: str,
        t: int,
    ) -> int:
        ledger.balance += delta
        entry_id = self.t_entry.take_id()
        when = self.clock.text(t)
        self.t_entry.add_plain(
            (entry_id, ledger.member_id, kind, delta, ledger.balance, reference, "", actor, key,
             when, when)
        )  # fmt: skip
        self.result.entries += 1
        return entry_id

    def credit(
        self, ledger: _Ledger, *, points: int, kind: str, reference: str, key: str, actor: str,
        t: int, purchase_id: int = 0,
    ) -> None:  # fmt: skip
        entry_id = self.entry(
            ledger, kind=kind, delta=points, reference=reference, key=key, actor=actor, t=t
        )
        lot = _Lot(
            id=self.t_lot.take_id(),
            entry_id=entry_id,
            points=points,
            remaining=points,
            expires_day=self.clock.local_day(t) + self.valid_days,
            purchase_id=purchase_id,
        )
        ledger.lots.append(lot)

    def debit(
        self, ledger: _Ledger, *, points: int, kind: str, reference: str, key: str, actor: str,
        t: int, lots: list[_Lot],
    ) -> None:  # fmt: skip
        entry_id = self.entry(
            ledger, kind=kind, delta=-points, reference=reference, key=key, actor=actor, t=t
        )
        needed = points
        for lot in lots:
            if not needed:
                break
            take = min(lot.remaining, needed)
            if not take:
                continue
            lot.remaining -= take
            needed -= take
            self.t_consumption.add_plain((self.t_consumption.take_id(), entry_id, lot.id, take))
        assert needed == 0, "demo ledger out of step"

    def open_lots(self, ledger: _Ledger) -> list[_Lot]:
        lots = ledger.lots
        while ledger.first_open < len(lots) and not lots[ledger.first_open].remaining:
            ledger.first_open += 1
        return [lot for lot in lots[ledger.first_open :] if lot.remaining]

    def expire_before(self, ledger: _Ledger, t: int) -> None:
        """Expire lots whose last valid day is before the day of ``t`` (at 00:05 next day)."""
        today = t // 86_400
        lots = ledger.lots
        if ledger.first_open >= len(lots) or lots[ledger.first_open].expires_day >= today:
            return
        for lot in self.open_lots(ledger):
            if lot.expires_day >= today:
                break
            self.debit(
                ledger,
                points=lot.remaining,
                kind=EntryKind.EXPIRE,
                reference=f"lot:{lot.id}",
                key=f"expire:lot:{lot.id}",
                actor="system:expire_points",
                t=(lot.expires_day + 1) * 86_400 + 300,
                lots=[lot],
            )

    def lots_write(self, ledger: _Ledger) -> None:
        for lot in ledger.lots:
            self.t_lot.add_plain(
                (lot.id, ledger.member_id, lot.entry_id, lot.points, lot.remaining,
                 self.clock.date(lot.expires_day).isoformat())
            )  # fmt: skip

    # ---- one member's life ----

    def member(self, index: int, visits: int) -> None:
        rng = self.rng
        member_id = self.t_member.take_id()
        ledger = _Ledger(member_id=member_id)
        home = self.store_pick()
        # (time, kind, payload): 0 link, 1 sale, 2 refund; a heap, as sales add refunds.
        events: list[tuple[int, int, Any]] = [(self.purchase_time(), 1, ()) for _ in range(visits)]
        linked = rng.random() < LINKED_SHARE
        if linked:
            events.append((self.purchase_time(), 0, ()))
        heapq.heapify(events)
        first_day = self.clock.local_day(events[0][0]) if events else rng.randrange(self.days)
        joined = self.clock.date(first_day) - datetime.timedelta(days=rng.randrange(0, 900))
        spend_by_day: list[tuple[int, int]] = []
        link_t = 0
        source = ""
        refunded: dict[int, tuple[int, int, int]] = {}
        while events:
            t, kind, payload = heapq.heappop(events)
            self.expire_before(ledger, t)
            if kind == 0:
                link_t, source = t, self.link_source()
                if self.bonus > 0:
                    self.credit(
                        ledger, points=self.bonus, kind=EntryKind.BONUS, reference="link_bonus",
                        key=f"link_bonus:{member_id}", actor="system:line_link", t=t,
                    )  # fmt: skip
            elif kind == 1:
                refund = self.sale(ledger, t=t, home=home, spend_by_day=spend_by_day)
                if refund is not None:
                    heapq.heappush(events, refund)
            else:
                purchase_id, store_id, amount, earned, total = payload
                refunded[purchase_id] = self.refund(
                    ledger, t=t, purchase_id=purchase_id, store_id=store_id, amount=amount,
                    to_reverse=earned * amount // total,
                )  # fmt: skip
                spend_by_day.append((self.clock.local_day(t), -amount))
        if refunded:
            self.purchase_refunds_apply(refunded)
        self.expire_before(ledger, self.now_t)
        self.lots_write(ledger)
        cutoff = self.days - 365
        spend_12m = sum(amount for day, amount in spend_by_day if day >= cutoff)
        tier_id = next((t.pk for t in self.tiers if spend_12m >= t.min_spend_12m), None)
        created = self.clock.text(first_day * 86_400)
        birth = datetime.date(rng.randrange(1950, 2006), rng.randrange(1, 13), rng.randrange(1, 29))
        self.t_member.add(
            (member_id, f"{CARD_NUMBER_PREFIX}{index:09d}",
             f"{rng.choice(_SURNAMES)} {rng.choice(_GIVEN)}", "", birth.isoformat(),
             rng.choice(("female", "female", "male", "other", "")), rng.choice(PREFECTURES),
             "", "", joined.isoformat(), "active", tier_id, ledger.balance, created, created)
        )  # fmt: skip
        if linked:
            self.friend_add(
                member_id=member_id,
                link_t=link_t,
                source=source,
                store_id=home if source == LinkSource.POSTER else None,
                blocked=rng.random() < BLOCKED_SHARE,
                # A few LIFF users link from the card without ever adding the account.
                followed=not (source == LinkSource.LIFF and rng.random() < 0.1),
            )
        self.result.members += 1

    def link_source(self) -> str:
        r = self.rng.random()
        return LinkSource.CHAT if r < 0.5 else LinkSource.LIFF if r < 0.8 else LinkSource.POSTER

    def sale(
        self, ledger: _Ledger, *, t: int, home: int, spend_by_day: list[tuple[int, int]]
    ) -> tuple[int, int, Any] | None:
        """One member sale with its points; returns a later refund event for some."""
        rng = self.rng
        store_id = home if rng.random() < HOME_STORE_SHARE else self.store_pick()
        terminal_id = self.terminal_by_store[store_id]
        purchase_id = self.t_purchase.take_id()
        total = self.basket(purchase_id)
        redeemed = 0
        if ledger.balance >= 300 and rng.random() < REDEEM_SHARE:
            redeemed = min(ledger.balance, total, rng.choice((100, 200, 300, 500, 1000)))
        reference = f"purchase:{purchase_id}"
        actor = f"terminal:{terminal_id}"
        if redeemed:
            self.debit(
                ledger, points=redeemed, kind=EntryKind.REDEEM, reference=reference,
                key=f"{reference}:redeem", actor=actor, t=t, lots=self.open_lots(ledger),
            )  # fmt: skip
        earned = (total - redeemed) // self.yen_per_point
        if earned:
            self.credit(
                ledger, points=earned, kind=EntryKind.EARN, reference=reference,
                key=f"{reference}:earn", actor=actor, t=t, purchase_id=purchase_id,
            )  # fmt: skip
        when = self.clock.text(t)
        self.t_purchase.add(
            (purchase_id, store_id, terminal_id, f"D{purchase_id}", when, total, ledger.member_id,
             "card_code" if redeemed or rng.random() < 0.7 else "card_number",
             redeemed, earned, 0, 0, 0, 0, when)
        )  # fmt: skip
        spend_by_day.append((self.clock.local_day(t), total))
        # Refunds only of sales paid in money: no redeemed points to give back.
        if redeemed or rng.random() >= REFUND_SHARE:
            return None
        refund_t = t + rng.randrange(3600, 10 * 86_400)
        if refund_t >= self.now_t:
            return None
        amount = total if rng.random() < 0.6 else max(1, total // 2)
        return (refund_t, 2, (purchase_id, store_id, amount, earned, total))

    def refund(
        self, ledger: _Ledger, *, t: int, purchase_id: int, store_id: int, amount: int,
        to_reverse: int,
    ) -> tuple[int, int, int]:  # fmt: skip
        """Take back the sale's points in proportion, its own lot first (as refund_record
        does); what the balance cannot cover is recorded as unrecovered."""
        reversed_points = min(to_reverse, ledger.balance)
        refund_id = self.t_refund.take_id()
        terminal_id = self.terminal_by_store[store_id]
        if reversed_points:
            own = [lot for lot in ledger.lots if lot.purchase_id == purchase_id and lot.remaining]
            others = [lot for lot in self.open_lots(ledger) if lot.purchase_id != purchase_id]
            self.debit(
                ledger, points=reversed_points, kind=EntryKind.REVERSAL,
                reference=f"refund:{refund_id}", key=f"refund:{refund_id}:reverse",
                actor=f"terminal:{terminal_id}", t=t, lots=own + others,
            )  # fmt: skip
        unrecovered = to_reverse - reversed_points
        when = self.clock.text(t)
        self.t_refund.add(
            (refund_id, purchase_id, store_id, terminal_id, f"DR{refund_id}", amount, when,
             reversed_points, 0, unrecovered, when)
        )  # fmt: skip
        self.result.refunds += 1
        return amount, reversed_points, unrecovered

    def purchase_refunds_apply(self, fixes: dict[int, tuple[int, int, int]]) -> None:
        """Put the refund totals on the purchase rows already added (the same batch)."""
        rows = self.t_purchase.rows
        for position in range(len(rows) - 1, -1, -1):
            row = rows[position]
            purchase_id = int(row.split("\t", 1)[0]) if self.postgres else row[0]
            if purchase_id not in fixes:
                if purchase_id < min(fixes):
                    break
                continue
            amount, reversed_points, unrecovered = fixes[purchase_id]
            if self.postgres:
                cells = row.split("\t")
                cells[10], cells[11], cells[13] = (
                    str(amount),
                    str(reversed_points),
                    str(unrecovered),
                )
                rows[position] = "\t".join(cells)
            else:
                cells = list(row)
                cells[10], cells[11], cells[13] = amount, reversed_points, unrecovered
                rows[position] = tuple(cells)

    def friend_add(
        self, *, member_id: int | None, link_t: int, source: str, store_id: int | None,
        blocked: bool, followed: bool = True,
    ) -> None:  # fmt: skip
        friend_id = self.t_friend.take_id()
        follow_t = max(0, link_t - self.rng.randrange(0, 30 * 86_400))
        followed_at = self.clock.text(follow_t) if followed else None
        blocked_t = min(self.now_t, link_t + self.rng.randrange(86_400, 60 * 86_400))
        linked_at = self.clock.text(link_t) if member_id else None
        self.t_friend.add(
            (friend_id, "U" + secrets.token_hex(16), "", blocked, followed_at,
             self.clock.text(blocked_t) if blocked else None, 0, member_id, linked_at, source,
             store_id, self.clock.text(follow_t), self.clock.text(follow_t))
        )  # fmt: skip
        self.result.friends += 1
        if member_id:
            self.t_link.add(
                (self.t_link.take_id(), friend_id, member_id, LinkAction.LINKED, source, store_id,
                 linked_at)
            )  # fmt: skip
            self.result.links += 1

    # ---- guests and friends who never linked ----

    def guest_purchases(self, count: int) -> None:
        for _ in range(count):
            purchase_id = self.t_purchase.take_id()
            store_id = self.store_pick()
            total = self.basket(purchase_id)
            t = self.purchase_time()
            when = self.clock.text(t)
            self.t_purchase.add(
                (purchase_id, store_id, self.terminal_by_store[store_id], f"D{purchase_id}",
                 when, total, None, "", 0, 0, 0, 0, 0, 0, when)
            )  # fmt: skip

    def unlinked_friends(self, count: int) -> None:
        for _ in range(count):
            r = self.rng.random()
            self.friend_add(
                member_id=None,
                link_t=self.purchase_time(),
                source="",
                store_id=self.store_pick() if r < 0.2 else None,
                blocked=self.rng.random() < BLOCKED_SHARE * 2,
            )

    # ---- the run ----

    def commit(self) -> None:
        with transaction.atomic():
            if self.postgres and self.skip_fk_checks:
                # Django's foreign keys are checked at commit, one queued trigger per row:
                # most of the load time. Ids are assigned here and check_ledger verifies the
                # result; only a superuser may do this, others load with the checks.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL session_replication_role = replica")
            for table in self.all_tables:
                began = time.monotonic()
                table.flush()
                self.flush_seconds[table.name] = self.flush_seconds.get(table.name, 0.0) + (
                    time.monotonic() - began
                )

    def run(self) -> DemoResult:
        self.tables()
        self.setup_catalogue()
        visits = self.visits_per_member()
        member_purchases = sum(visits)
        done = 0
        for start in range(0, self.n_members, self.batch):
            for index in range(start, min(start + self.batch, self.n_members)):
                self.member(index + 1, visits[index])
            self.commit()
            done = min(start + self.batch, self.n_members)
            self.log(f"members {done:,}/{self.n_members:,}")
        guests = self.n_purchases - member_purchases
        friends = round(self.n_members * EXTRA_FRIENDS_SHARE)
        for start in range(0, max(guests, friends), self.batch * 5):
            self.guest_purchases(min(self.batch * 5, max(0, guests - start)))
            self.unlinked_friends(min(self.batch * 5, max(0, friends - start)))
            self.commit()
        self.log(f"guest purchases {guests:,}, friends without a card {friends:,}")
        for table in self.all_tables:
            table.sequence_update()
        self.result.purchases = self.n_purchases
        self.log(
            "writing took "
            + ", ".join(f"{name} {sec:.1f}s" for name, sec in self.flush_seconds.items())
        )
        return self.result


def _is_superuser() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        row = cursor.fetchone()
    return bool(row and row[0])


def _cumulative(values: Iterable[float]) -> Iterable[float]:
    total = 0.0
    for v in values:
        total += v
        yield total


def _bisect(cumulative: list[float], x: float) -> int:
    lo, hi = 0, len(cumulative) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cumulative[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def demo_data_generate(
    *,
    members: int,
    purchases: int,
    stores: int = 50,
    days: int = 395,
    seed: int = 1,
    batch: int = 20_000,
    log: Callable[[str], None] = lambda message: None,
) -> DemoResult:
    """Load demo stores, members, friends, links, purchases, refunds and their ledger.

    Refuses (``DemoDataExists``) when demo stores are already there: a second load would
    double every figure. ``days`` is the period the sales spread over, ending today.
    """
    if Store.objects.filter(code__startswith=STORE_CODE_PREFIX).exists():
        raise DemoDataExists()
    if members < 0 or purchases < 0 or stores < 1 or days < 1:
        raise ValueError("members and purchases must be >= 0, stores and days >= 1")
    generator = _Generator(
        members=members,
        purchases=purchases,
        stores=stores,
        days=days,
        seed=seed,
        batch=batch,
        log=log,
    )
    return generator.run()
