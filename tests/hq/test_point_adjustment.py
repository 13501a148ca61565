"""Manual point adjustments on the member page: HQ admin only, password re-entered, reason
required, once per form, never below zero, written to the ledger and the audit log."""

import uuid

import pytest
from django.core.management import call_command
from django.test import Client

from audit.models import AuditAction, AuditEntry
from hq.roles import HqRole
from hq.services.member_actions import REAUTH_FAILURES_MAX
from membership.models import EntryKind, PointEntry
from tests.hq.conftest import PASSWORD

URL = "/hq/members/40000001/adjust"


@pytest.fixture
def member(make_member):
    return make_member(card_number="40000001", points=300)


@pytest.fixture
def admin(client_for) -> Client:
    """An HQ admin with CSRF checks on, as a browser submits the form."""
    return client_for(HqRole.HQ_ADMIN, csrf=True)


def _form(client: Client, **fields):
    page = client.get("/hq/members/40000001/")
    assert page.status_code == 200
    data = {
        "csrfmiddlewaretoken": page.context["csrf_token"],
        "form_key": str(page.context["adjust_form"]["form_key"].value()),
        "points": 100,
        "reason": "レジ障害のため付与漏れを補填",
        "password": PASSWORD,
    }
    data.update(fields)
    return data


def _adjustments(member):
    return PointEntry.objects.filter(member=member, kind=EntryKind.ADJUST)


def test_adjustment_writes_ledger_and_audit_with_actor(admin, member):
    response = admin.post(URL, _form(admin, points=-120))
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.points_balance == 180
    entry = _adjustments(member).get()
    assert entry.delta == -120 and entry.actor == "user:u-hq_admin-hq"
    assert entry.reason == "レジ障害のため付与漏れを補填"
    audit = AuditEntry.objects.get(action=AuditAction.POINTS_ADJUST)
    assert audit.before == {"balance": 300}
    assert audit.after["balance"] == 180
    assert audit.target_id == str(member.pk) and audit.actor_username == "u-hq_admin-hq"
    assert ("balance", 300, 180) in audit.changed_fields()
    call_command("check_ledger")


def test_form_without_csrf_token_is_refused(admin, member):
    data = _form(admin)
    del data["csrfmiddlewaretoken"]
    assert admin.post(URL, data).status_code == 403
    assert not _adjustments(member).exists()


def test_wrong_password_writes_nothing_but_is_counted(admin, member):
    response = admin.post(URL, _form(admin, password="wrong"))
    assert response.status_code == 403
    assert "パスワードが正しくありません" in response.content.decode()
    member.refresh_from_db()
    assert member.points_balance == 300
    assert not _adjustments(member).exists()
    assert not AuditEntry.objects.filter(action=AuditAction.POINTS_ADJUST).exists()
    assert AuditEntry.objects.filter(action=AuditAction.REAUTH_FAILED).count() == 1


def test_repeated_wrong_passwords_lock_even_the_right_one(admin, member):
    for _ in range(REAUTH_FAILURES_MAX):
        assert admin.post(URL, _form(admin, password="guess")).status_code in (403, 429)
    response = admin.post(URL, _form(admin))
    assert response.status_code == 429
    assert not _adjustments(member).exists()


def test_double_submit_adjusts_once(admin, member):
    data = _form(admin, points=50)
    first = admin.post(URL, data)
    second = admin.post(URL, data)
    assert first.status_code == second.status_code == 302
    member.refresh_from_db()
    assert member.points_balance == 350
    assert _adjustments(member).count() == 1
    assert AuditEntry.objects.filter(action=AuditAction.POINTS_ADJUST).count() == 1


def test_removing_more_than_the_balance_is_refused(admin, member):
    response = admin.post(URL, _form(admin, points=-301))
    assert response.status_code == 409
    assert "残高(300ポイント)を超えて" in response.content.decode()
    member.refresh_from_db()
    assert member.points_balance == 300
    assert not _adjustments(member).exists()
    assert not AuditEntry.objects.filter(action=AuditAction.POINTS_ADJUST).exists()


@pytest.mark.parametrize(
    "fields",
    [
        {"points": 0},
        {"points": "1.5"},
        {"points": "abc"},
        {"points": 100_001},
        {"reason": "   "},
        {"password": ""},
        {"form_key": "not-a-uuid"},
    ],
)
def test_bad_input_is_refused_in_japanese_and_writes_nothing(admin, member, fields):
    response = admin.post(URL, _form(admin, **fields))
    assert response.status_code == 422
    errors = response.context["adjust_form"].errors
    assert errors
    assert not _adjustments(member).exists()
    assert not AuditEntry.objects.exists()


def test_form_key_of_another_member_is_refused(admin, member, make_member):
    other = make_member(card_number="40000002", points=10)
    key = str(uuid.uuid4())
    assert admin.post(URL, _form(admin, form_key=key)).status_code == 302
    page = admin.get("/hq/members/40000002/")
    response = admin.post(
        "/hq/members/40000002/adjust",
        {
            "csrfmiddlewaretoken": page.context["csrf_token"],
            "form_key": key,
            "points": 5,
            "reason": "再利用",
            "password": PASSWORD,
        },
    )
    assert response.status_code == 409
    other.refresh_from_db()
    assert other.points_balance == 10
