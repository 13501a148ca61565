"""``create_staff``: how HQ gives a store's cashiers their scanner login."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from pos_bridge.models import StaffMember, StaffRole


def _run(*args: str) -> str:
    stdout = io.StringIO()
    call_command(*args, stdout=stdout, stderr=io.StringIO())
    return stdout.getvalue()


def test_create_staff_prints_a_password_that_logs_in_to_the_scanner(store):
    output = _run("create_staff", "yamada", "--store", store.code, "--role", "store_manager")
    password = output.strip().splitlines()[-1]
    staff = StaffMember.objects.get(user__username="yamada")
    assert staff.store == store and staff.role == StaffRole.STORE_MANAGER
    assert not staff.user.is_staff
    assert password not in staff.user.password  # only the hash is stored
    client = Client()
    response = client.post("/staff/login/", {"username": "yamada", "password": password})
    assert response.status_code == 302 and response["Location"] == "/staff/"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("yamada", "--store", "nowhere"), "店舗が見つかりません"),
        (("bad name!", "--store", "shibuya"), "not created"),
    ],
)
def test_create_staff_refuses_bad_input(store, args, message):
    with pytest.raises(CommandError, match=message):
        _run("create_staff", *args)
    assert not get_user_model().objects.exists()


def test_create_staff_refuses_a_taken_username(store, staff_user):
    with pytest.raises(CommandError, match="not created"):
        _run("create_staff", staff_user.get_username(), "--store", store.code)
    assert StaffMember.objects.count() == 1
