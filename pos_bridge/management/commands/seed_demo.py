"""Demo data for `make run`: stores, tiers, a campaign, members with history, a POS terminal.

Safe to run on every start: existing demo rows are kept, and the demo terminal's API key and
the demo admin password are rotated and printed (keys are stored hashed, so the only way to
show one is to issue a new one).
"""

import datetime
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from membership.models import Campaign, EntryKind, Member, PointProgram, Tier
from membership.services.points import member_lock, points_credit
from pos_bridge.models import Purchase, Store, Terminal
from pos_bridge.services.purchases import ItemData, purchase_record
from pos_bridge.services.staff import staff_account_create
from pos_bridge.services.stores import store_create, terminal_create, terminal_key_rotate

DEMO_STORES = [
    ("shibuya", "渋谷本店", "東京都"),
    ("yokohama", "横浜みなとみらい店", "神奈川県"),
    ("umeda", "梅田店", "大阪府"),
]
DEMO_TIERS = [
    ("regular", "レギュラー", 0, 100),
    ("silver", "シルバー", 30_000, 150),
    ("gold", "ゴールド", 100_000, 200),
]
# (card number, name, kana, birth date, gender, prefecture, starting bonus points)
DEMO_MEMBERS = [
    (
        "1000000001",
        "山田 花子",
        "ヤマダ ハナコ",
        datetime.date(1988, 5, 14),
        "female",
        "東京都",
        500,
    ),
    ("1000000002", "佐藤 健", "サトウ ケン", datetime.date(1975, 11, 2), "male", "神奈川県", 1200),
    ("1000000003", "鈴木 美咲", "スズキ ミサキ", datetime.date(1996, 3, 30), "female", "大阪府", 0),
    (
        "1000000004",
        "高橋 翔太",
        "タカハシ ショウタ",
        datetime.date(2001, 8, 8),
        "male",
        "東京都",
        80,
    ),
    (
        "1000000005",
        "田中 由美",
        "タナカ ユミ",
        datetime.date(1962, 1, 20),
        "female",
        "埼玉県",
        3000,
    ),
]
DEMO_ITEMS = [
    ItemData(
        sku="4901234567894",
        name="オーガニック緑茶 500ml",
        category="drinks",
        quantity=2,
        unit_price=180,
    ),
    ItemData(
        sku="4909876543210",
        name="化粧水 トライアルサイズ",
        category="cosmetics",
        quantity=1,
        unit_price=1100,
    ),
    ItemData(
        sku="4901111111116",
        name="ハンドクリーム",
        category="cosmetics",
        quantity=1,
        unit_price=1650,
    ),
]


class Command(BaseCommand):
    help = "Load demo stores, tiers, members and a POS terminal (DEBUG only); print how to try it."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("seed_demo is for development (DEBUG=1) only.")
        with transaction.atomic():
            self._rules()
            stores = self._stores()
            terminal = Terminal.objects.filter(store=stores[0], name="demo-register").first()
            if terminal is None:
                terminal = terminal_create(store_code=stores[0].code, name="demo-register").terminal
            api_key = terminal_key_rotate(terminal=terminal)
            self._members(terminal)
            password = self._admin()
            staff_password = self._staff(stores[0])
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(
            f"  HQ admin:       user 'admin', password '{password}' (new on every start)"
        )
        self.stdout.write(
            f"  Staff scanner:  user 'staff', password '{staff_password}' ({stores[0].name})"
        )
        self.stdout.write(f"  POS API key:    {api_key}  (terminal {terminal}; new on every start)")
        self.stdout.write("  Demo members:   " + ", ".join(m[0] for m in DEMO_MEMBERS))

    def _rules(self) -> None:
        PointProgram.objects.get_or_create(pk=1)
        for code, name, spend, rate in DEMO_TIERS:
            Tier.objects.get_or_create(
                code=code,
                defaults={"name": name, "min_spend_12m": spend, "earn_rate_percent": rate},
            )
        today = timezone.localdate()
        Campaign.objects.get_or_create(
            name="コスメ ポイント2倍",
            defaults={
                "starts_on": today - datetime.timedelta(days=7),
                "ends_on": today + datetime.timedelta(days=60),
                "categories": ["cosmetics"],
                "multiplier_percent": 200,
            },
        )

    def _stores(self) -> list[Store]:
        stores = []
        for code, name, prefecture in DEMO_STORES:
            store = Store.objects.filter(code=code).first()
            stores.append(store or store_create(code=code, name=name, prefecture=prefecture))
        return stores

    def _members(self, terminal: Terminal) -> None:
        now = timezone.now()
        for number, name, kana, birth, gender, prefecture, bonus in DEMO_MEMBERS:
            if Member.objects.filter(card_number=number).exists():
                continue
            member = Member.objects.create(
                card_number=number,
                name=name,
                name_kana=kana,
                birth_date=birth,
                gender=gender,
                prefecture=prefecture,
                joined_on=timezone.localdate() - datetime.timedelta(days=400),
            )
            if bonus:
                points_credit(
                    member=member_lock(member.pk),
                    points=bonus,
                    kind=EntryKind.BONUS,
                    reference="demo",
                    idempotency_key=f"demo:bonus:{number}",
                    actor="system:seed_demo",
                    reason="デモ用の初期ポイント",
                    occurred_at=now - datetime.timedelta(days=300),
                )
            for basket_size, days_ago in enumerate((45, 12, 3), start=1):
                receipt = f"DEMO-{number}-{days_ago}"
                if Purchase.objects.filter(store=terminal.store, receipt_number=receipt).exists():
                    continue
                items = DEMO_ITEMS[:basket_size]
                purchase_record(
                    terminal=terminal,
                    receipt_number=receipt,
                    occurred_at=now - datetime.timedelta(days=days_ago, hours=2),
                    total=sum(i.quantity * i.unit_price for i in items),
                    items=items,
                    card=number,
                )

    def _staff(self, store: Store) -> str:
        user_model = get_user_model()
        user = user_model.objects.filter(username="staff").first()
        if user is None:
            return staff_account_create(username="staff", store_code=store.code).password
        password = secrets.token_urlsafe(9)
        user.set_password(password)
        user.save()
        return password

    def _admin(self) -> str:
        password = secrets.token_urlsafe(9)
        user, _created = get_user_model().objects.get_or_create(
            username="admin", defaults={"is_staff": True, "is_superuser": True}
        )
        user.set_password(password)
        user.save()
        return password
