"""Every HQ change made in the admin is in the audit log: who, when, before and after."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from audit.models import AuditAction, AuditEntry
from line_messaging.models import Trigger, TriggeredMessage
from membership.models import Campaign, Tier
from pos_bridge.models import Store


@pytest.fixture
def admin_client(db) -> Client:
    user = get_user_model().objects.create_superuser(username="hq-boss", password="pw-long-enough")
    client = Client()
    client.force_login(user)
    return client


def test_tier_edit_in_admin_records_before_and_after(admin_client):
    tier = Tier.objects.create(code="silver", name="シルバー", min_spend_12m=30000)
    response = admin_client.post(
        f"/admin/membership/tier/{tier.pk}/change/",
        {"code": "silver", "name": "シルバー", "min_spend_12m": 50000, "earn_rate_percent": 150},
    )
    assert response.status_code == 302
    entry = AuditEntry.objects.get(target_type="membership.tier", target_id=str(tier.pk))
    assert entry.action == AuditAction.UPDATE
    assert entry.actor_username == "hq-boss"
    assert entry.before["min_spend_12m"] == 30000
    assert entry.after["min_spend_12m"] == 50000
    assert ("min_spend_12m", 30000, 50000) in entry.changed_fields()


def test_saving_without_changes_records_nothing(admin_client):
    tier = Tier.objects.create(code="gold", name="ゴールド", min_spend_12m=100000)
    admin_client.post(
        f"/admin/membership/tier/{tier.pk}/change/",
        {
            "code": "gold",
            "name": "ゴールド",
            "min_spend_12m": 100000,
            "earn_rate_percent": tier.earn_rate_percent,
        },
    )
    assert not AuditEntry.objects.filter(target_type="membership.tier").exists()


def test_campaign_store_list_change_is_in_the_after_snapshot(admin_client):
    store = Store.objects.create(code="s1", name="渋谷店")
    response = admin_client.post(
        "/admin/membership/campaign/add/",
        {
            "name": "週末2倍",
            "starts_on": "2026-11-01",
            "ends_on": "2026-11-30",
            "multiplier_percent": 200,
            "bonus_points": 0,
            "active": "on",
            "stores": [store.pk],
            "categories": "[]",
            "skus": "[]",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    campaign = Campaign.objects.get()
    entry = AuditEntry.objects.get(target_type="membership.campaign")
    assert entry.action == AuditAction.CREATE
    assert entry.before == {}
    assert entry.after["stores"] == [store.pk]
    assert entry.target_id == str(campaign.pk)


def test_delete_in_admin_records_the_deleted_row(admin_client):
    tier = Tier.objects.create(code="bronze", name="ブロンズ", min_spend_12m=1)
    response = admin_client.post(f"/admin/membership/tier/{tier.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action=AuditAction.DELETE)
    assert entry.before["code"] == "bronze"
    assert entry.after == {}


def test_triggered_message_switched_off_from_the_list_is_recorded(admin_client):
    message = TriggeredMessage.objects.get(trigger=Trigger.PURCHASE_RECEIPT)
    rows = list(TriggeredMessage.objects.order_by("trigger"))
    data = {
        "form-TOTAL_FORMS": str(len(rows)),
        "form-INITIAL_FORMS": str(len(rows)),
        "_save": "保存",
    }
    for i, row in enumerate(rows):
        data[f"form-{i}-id"] = str(row.pk)
        if row.pk != message.pk and row.enabled:
            data[f"form-{i}-enabled"] = "on"
    response = admin_client.post("/admin/line_messaging/triggeredmessage/", data)
    assert response.status_code == 302
    entry = AuditEntry.objects.get(target_type="line_messaging.triggeredmessage")
    assert entry.before["enabled"] is True
    assert entry.after["enabled"] is False


def test_terminal_revoke_action_is_recorded(admin_client):
    from pos_bridge.services.stores import terminal_create

    Store.objects.create(code="s2", name="新宿店")
    issued = terminal_create(store_code="s2", name="レジ1")
    response = admin_client.post(
        "/admin/pos_bridge/terminal/",
        {"action": "revoke", "_selected_action": [issued.terminal.pk]},
    )
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action=AuditAction.TERMINAL_REVOKE)
    assert entry.target_id == str(issued.terminal.pk)
    assert "key_hash" not in entry.after
