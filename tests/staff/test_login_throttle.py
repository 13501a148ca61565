"""Password guessing is throttled on every login form, per account and per address."""

import datetime

import time_machine
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from audit.login_throttle import FAILURES_PER_ADDRESS, FAILURES_PER_USERNAME, login_failures_purge
from audit.models import LoginFailure
from tests.staff.conftest import PASSWORD


def _staff_login(username: str, password: str, *, ip: str = "203.0.113.7"):
    return Client(REMOTE_ADDR=ip).post(
        "/staff/login/", {"username": username, "password": password}
    )


def _form_error_code(response) -> str:
    return response.context["form"].errors.as_data()["__all__"][0].code


def test_staff_account_is_locked_after_repeated_wrong_passwords_even_with_the_right_one(
    staff_user,
):
    name = staff_user.get_username()
    for _ in range(FAILURES_PER_USERNAME):
        assert _form_error_code(_staff_login(name, "wrong")) == "invalid_login"

    refused = _staff_login(name, PASSWORD)

    assert refused.status_code == 200
    assert _form_error_code(refused) == "throttled"
    assert "15分" in refused.content.decode()
    assert "_auth_user_id" not in refused.wsgi_request.session


def test_the_lock_lifts_when_the_window_has_passed(staff_user):
    name = staff_user.get_username()
    for _ in range(FAILURES_PER_USERNAME):
        _staff_login(name, "wrong")
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=16)):
        response = _staff_login(name, PASSWORD)
        assert response.status_code == 302 and response["Location"] == "/staff/"
        assert login_failures_purge() == FAILURES_PER_USERNAME


def test_a_few_typos_do_not_lock_anyone_out(staff_user):
    name = staff_user.get_username()
    for _ in range(FAILURES_PER_USERNAME - 1):
        _staff_login(name, "wrong")
    assert _staff_login(name, PASSWORD).status_code == 302


def test_one_address_guessing_many_accounts_is_throttled(staff_user):
    for i in range(FAILURES_PER_ADDRESS):
        _staff_login(f"guess-{i}", "wrong", ip="198.51.100.9")
    blocked = _staff_login(staff_user.get_username(), PASSWORD, ip="198.51.100.9")
    assert _form_error_code(blocked) == "throttled"
    assert _staff_login(staff_user.get_username(), PASSWORD, ip="192.0.2.1").status_code == 302


def test_admin_login_is_throttled_too(db):
    get_user_model().objects.create_superuser(username="boss", password=PASSWORD)
    for _ in range(FAILURES_PER_USERNAME):
        Client().post("/admin/login/", {"username": "boss", "password": "wrong"})
    assert LoginFailure.objects.filter(username="boss").count() == FAILURES_PER_USERNAME

    response = Client().post(
        "/admin/login/?next=/admin/", {"username": "boss", "password": PASSWORD}
    )

    assert response.status_code == 200  # the login form again, not the redirect
    assert "_auth_user_id" not in response.wsgi_request.session


def test_purge_login_failures_command_keeps_the_ones_that_still_count(staff_user):
    from io import StringIO

    from django.core.management import call_command

    _staff_login(staff_user.get_username(), "wrong")
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=16)):
        _staff_login(staff_user.get_username(), "wrong")
        out = StringIO()
        call_command("purge_login_failures", stdout=out)
    assert "deleted 1 " in out.getvalue()
    assert LoginFailure.objects.count() == 1
