"""/hq/audit/: HQ admin and analyst read the log with before/after diffs and filters;
analysts see personal values masked; store roles and plain logins are refused."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from audit.models import AuditAction, AuditEntry
from audit.services import audit_record
from pos_bridge.models import StaffRole
from pos_bridge.services.staff import staff_member_create


def _client(role: str, store=None) -> Client:
    user = get_user_model().objects.create_user(username=f"v-{role}", password="x")
    if role in ("hq_admin", "hq_analyst"):
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    elif role in StaffRole.values:
        staff_member_create(user=user, store=store, role=role)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def entries(db):
    boss = get_user_model().objects.create_user(username="boss", password="x")
    # Entries are stamped on creation, so ids follow time: the old one is written first.
    old = audit_record(actor=boss, action=AuditAction.CREATE, target_type="membership.tier")
    AuditEntry.objects.filter(pk=old.pk).update(
        occurred_at=timezone.now() - datetime.timedelta(days=40)
    )
    first = audit_record(
        actor=boss,
        action=AuditAction.POINTS_ADJUST,
        target_type="membership.member",
        target_id="7",
        target_repr="会員 10000007",
        before={"balance": 100},
        after={"balance": 150},
        reason="補填",
    )
    second = audit_record(
        actor=None,
        action=AuditAction.UPDATE,
        target_type="line_messaging.linefriend",
        target_id="3",
        target_repr="friend",
        before={"display_name": "山田", "marketing_opt_in": True},
        after={"display_name": "やまだ", "marketing_opt_in": False},
    )
    return {"first": first, "second": second, "old": old}


def test_anonymous_goes_to_admin_login(entries):
    response = Client().get("/hq/audit/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")


@pytest.mark.parametrize("role", ["no_role", StaffRole.STORE_MANAGER, StaffRole.STORE_STAFF])
def test_store_roles_and_no_role_are_refused(entries, store, role):
    assert _client(role, store).get("/hq/audit/").status_code == 403


def test_admin_sees_every_entry_with_its_diff(entries):
    response = _client("hq_admin").get("/hq/audit/")
    assert response.status_code == 200
    rows = response.context["rows"]
    assert [entry.pk for entry, _ in rows] == [
        entries["second"].pk,
        entries["first"].pk,
        entries["old"].pk,
    ]
    changes = dict(rows)[entries["first"]]
    assert [(c.field, c.before, c.after) for c in changes] == [("balance", 100, 150)]
    assert "やまだ" in response.content.decode()


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"actor": "boss"}, ["first", "old"]),
        ({"action": "points_adjust"}, ["first"]),
        ({"target_type": "line_messaging.linefriend"}, ["second"]),
        ({"from": (timezone.localdate() - datetime.timedelta(days=1)).isoformat()},
         ["second", "first"]),
        ({"to": (timezone.localdate() - datetime.timedelta(days=30)).isoformat()}, ["old"]),
    ],
)  # fmt: skip
def test_filters(entries, params, expected):
    rows = _client("hq_analyst").get("/hq/audit/", params).context["rows"]
    assert [entry.pk for entry, _ in rows] == [entries[name].pk for name in expected]


def test_analyst_sees_personal_values_masked(entries):
    response = _client("hq_analyst").get("/hq/audit/", {"target_type": "line_messaging.linefriend"})
    body = response.content.decode()
    assert "やまだ" not in body and "山田" not in body
    changes = {c.field: (c.before, c.after) for c in response.context["rows"][0][1]}
    assert changes["display_name"] == ("***", "***")
    assert changes["marketing_opt_in"] == (True, False)


@pytest.mark.parametrize(
    "params", [{"from": "yesterday"}, {"action": "hack"}, {"before": "x"}, {"from": "2026-02-02",
               "to": "2026-01-01"}]
)  # fmt: skip
def test_bad_filters_answer_400(entries, params):
    response = _client("hq_admin").get("/hq/audit/", params)
    assert response.status_code == 400
    assert response.context["errors"]


def test_pages_by_id_cursor(entries, monkeypatch):
    from audit import selectors

    monkeypatch.setattr(selectors, "PAGE_SIZE", 2)
    client = _client("hq_admin")
    first = client.get("/hq/audit/")
    assert len(first.context["rows"]) == 2
    second = client.get(f"/hq/audit/?{first.context['next_query']}")
    assert [e.pk for e, _ in second.context["rows"]] == [entries["old"].pk]
