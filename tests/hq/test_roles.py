"""Role boundaries on every HQ URL: anonymous → admin login, each role sees only what it may."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client

from hq.roles import HqRole, hq_access_for_user
from pos_bridge.models import StaffRole
from pos_bridge.services.staff import staff_member_create

HQ_URLS = [
    "/hq/stores/",
    "/hq/stores/shibuya/poster",
    "/hq/stores/shibuya/poster.png",
    "/hq/exports/",
    "/hq/exports/purchases.csv",
    "/hq/exports/items.csv",
    "/hq/exports/ledger.csv",
    "/hq/exports/members.csv",
]


@pytest.fixture(autouse=True)
def liff_settings(settings):
    settings.LIFF_ID = "1650000000-AbCdEfGh"


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def login(db, store):
    def make(role: str) -> Client:
        user = get_user_model().objects.create_user(username=f"u-{role}", password="x")
        if role == "superuser":
            user.is_superuser = user.is_staff = True
            user.save()
        elif role in (HqRole.HQ_ADMIN, HqRole.HQ_ANALYST):
            user.groups.add(Group.objects.get_or_create(name=role)[0])
        elif role in StaffRole.values:
            staff_member_create(user=user, store=store, role=role)
        return _client_for(user)

    return make


# Expected status per role; 200 means the page (or CSV stream) is served.
EXPECTED = {
    "superuser": dict.fromkeys(HQ_URLS, 200),
    HqRole.HQ_ADMIN: dict.fromkeys(HQ_URLS, 200),
    HqRole.HQ_ANALYST: dict.fromkeys(HQ_URLS, 200),
    HqRole.STORE_MANAGER: {
        **dict.fromkeys(HQ_URLS, 403),
        "/hq/exports/": 200,
        "/hq/exports/purchases.csv": 200,
        "/hq/exports/items.csv": 200,
    },
    HqRole.STORE_STAFF: dict.fromkeys(HQ_URLS, 403),
    "no_role": dict.fromkeys(HQ_URLS, 403),
}


@pytest.mark.parametrize("path", HQ_URLS)
def test_anonymous_visitors_are_sent_to_the_admin_login(store, path):
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")


@pytest.mark.parametrize("role", list(EXPECTED))
@pytest.mark.parametrize("path", HQ_URLS)
def test_each_role_reaches_only_its_hq_urls(login, role, path):
    response = login(role).get(path)
    assert response.status_code == EXPECTED[role][path]


def test_plain_admin_staff_without_an_hq_group_is_refused(store):
    user = get_user_model().objects.create_user(username="staffonly", password="x", is_staff=True)
    assert _client_for(user).get("/hq/exports/").status_code == 403


def test_store_manager_cannot_export_another_store(login, other_store):
    response = login(HqRole.STORE_MANAGER).get(
        f"/hq/exports/purchases.csv?store={other_store.code}"
    )
    assert response.status_code == 403


def test_store_manager_export_page_offers_own_store_and_sales_exports_only(
    login, store, other_store
):
    body = login(HqRole.STORE_MANAGER).get("/hq/exports/").content.decode()
    assert store.name in body
    assert other_store.name not in body
    assert "/hq/exports/purchases.csv" in body
    assert "/hq/exports/members.csv" not in body


def test_hq_group_wins_over_a_staff_record(store):
    user = get_user_model().objects.create_user(username="both", password="x")
    staff_member_create(user=user, store=store, role=StaffRole.STORE_STAFF)
    user.groups.add(Group.objects.get_or_create(name="hq_analyst")[0])
    access = hq_access_for_user(user)
    assert access is not None
    assert access.role is HqRole.HQ_ANALYST
    assert access.store is None


def test_inactive_users_have_no_hq_role(store):
    user = get_user_model().objects.create_user(
        username="gone", password="x", is_superuser=True, is_active=False
    )
    assert hq_access_for_user(user) is None


@pytest.mark.parametrize("role", ["hq_admin", "hq_analyst"])
def test_create_hq_user_prints_a_password_that_logs_in_with_the_role(db, capsys, role):
    call_command("create_hq_user", "alice", "--role", role)
    password = capsys.readouterr().out.strip().splitlines()[-1]
    user = get_user_model().objects.get(username="alice")
    assert user.is_staff and not user.is_superuser
    assert user.check_password(password)
    assert len(password) >= 16
    access = hq_access_for_user(user)
    assert access is not None and access.role == role
    client = Client()
    assert client.login(username="alice", password=password)
    assert client.get("/hq/exports/").status_code == 200


def test_create_hq_user_rejects_a_taken_username(db):
    from django.core.management.base import CommandError

    get_user_model().objects.create_user(username="alice")
    with pytest.raises(CommandError):
        call_command("create_hq_user", "alice", "--role", "hq_admin")
