"""Staff log in with a store account; sessions end after 30 idle minutes; CSRF everywhere."""

import datetime

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client

from tests.staff.conftest import PASSWORD, StaffClient


def test_scanner_redirects_anonymous_to_the_staff_login(db):
    response = Client().get("/staff/")
    assert response.status_code == 302
    assert response["Location"] == "/staff/login/?next=/staff/"


@pytest.mark.parametrize("path", ["/staff/lookup/", "/staff/purchases/", "/staff/refunds/"])
def test_staff_posts_need_a_login(db, path):
    response = Client().post(path, {"card": "1000000001"})
    assert response.status_code == 302
    assert response["Location"].startswith("/staff/login/")


def test_login_page_is_japanese_and_carries_a_csrf_token(db):
    response = Client().get("/staff/login/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "スタッフログイン" in body and 'lang="ja"' in body
    assert "csrfmiddlewaretoken" in body


def test_staff_member_logs_in_and_sees_the_scanner_of_their_store(staff_user, store):
    client = StaffClient(staff_user.get_username())
    response = client.login()
    assert response.status_code == 302 and response["Location"] == "/staff/"
    page = client.client.get("/staff/")
    assert page.status_code == 200
    assert store.name in page.content.decode()
    assert "会員証を読み取る" in page.content.decode()


def test_wrong_password_is_refused_in_japanese(staff_user):
    response = Client().post(
        "/staff/login/", {"username": staff_user.get_username(), "password": "wrong"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors.as_data()["__all__"][0].code == "invalid_login"
    assert "パスワード" in response.content.decode()


def test_account_without_a_store_cannot_log_in(db):
    get_user_model().objects.create_user(username="hq", password=PASSWORD, is_staff=True)
    response = Client().post("/staff/login/", {"username": "hq", "password": PASSWORD})
    assert response.status_code == 200
    assert response.context["form"].errors.as_data()["__all__"][0].code == "not_staff"


def test_logged_in_user_without_a_store_gets_403(db):
    admin = get_user_model().objects.create_superuser(username="boss", password=PASSWORD)
    client = Client()
    client.force_login(admin)
    response = client.get("/staff/")
    assert response.status_code == 403
    assert "店舗スタッフとして登録されていません" in response.content.decode()


def test_deactivated_staff_account_is_locked_out(staff, staff_user):
    staff_user.is_active = False
    staff_user.save()
    assert staff.client.get("/staff/").status_code == 302


def test_session_ends_after_30_idle_minutes(staff_user):
    start = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False) as clock:
        client = StaffClient(staff_user.get_username())
        client.login()
        clock.shift(datetime.timedelta(minutes=29))
        assert client.client.get("/staff/").status_code == 200
        clock.shift(datetime.timedelta(minutes=31))
        response = client.client.get("/staff/refunds/")
        assert response.status_code == 302
        assert response["Location"] == "/staff/login/?next=/staff/refunds/"
        login_page = client.client.get(response["Location"])
        assert "30分間操作がなかったため" in login_page.content.decode()
        # Logged out for good, not just redirected once.
        assert client.client.get("/staff/").status_code == 302


def test_activity_keeps_the_staff_session_alive(staff_user):
    start = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False) as clock:
        client = StaffClient(staff_user.get_username())
        client.login()
        for _ in range(4):
            clock.shift(datetime.timedelta(minutes=25))
            assert client.client.get("/staff/").status_code == 200


def test_form_submitted_after_the_timeout_records_nothing(staff_user, make_member):
    from pos_bridge.models import Purchase
    from tests.staff.conftest import form_key_of

    member = make_member()
    start = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False) as clock:
        client = StaffClient(staff_user.get_username())
        client.login()
        key = form_key_of(client.lookup(member.card_number))
        clock.shift(datetime.timedelta(minutes=31))
        response = client.purchase(card=member.card_number, total=1000, form_key=key)
        assert response.status_code == 302
        assert response["Location"] == "/staff/login/?next=/staff/"
    assert not Purchase.objects.exists()


def test_logout_ends_the_session(staff):
    response = staff.client.post("/staff/logout/")
    assert response.status_code == 302 and response["Location"] == "/staff/login/"
    assert staff.client.get("/staff/").status_code == 302


def test_staff_session_itself_runs_out_an_hour_after_the_last_request(staff):
    assert staff.client.session.get_expiry_age() == 60 * 60


class TestCsrf:
    """Every staff form is refused without its CSRF token."""

    @pytest.mark.parametrize(
        ("path", "data"),
        [
            ("/staff/lookup/", {"card": "1000000001"}),
            ("/staff/purchases/", {"card": "1000000001", "form_key": "k", "total": "100"}),
            ("/staff/refunds/", {"receipt_number": "R1", "form_key": "k", "amount": "100"}),
            ("/staff/logout/", {}),
        ],
    )
    def test_staff_post_without_csrf_token_is_403(self, staff_user, path, data):
        client = Client(enforce_csrf_checks=True)
        client.force_login(staff_user)
        assert client.post(path, data).status_code == 403

    def test_login_without_csrf_token_is_403(self, staff_user):
        client = Client(enforce_csrf_checks=True)
        response = client.post(
            "/staff/login/", {"username": staff_user.get_username(), "password": PASSWORD}
        )
        assert response.status_code == 403

    def test_lookup_with_the_page_token_works(self, staff_user, make_member):
        member = make_member()
        client = Client(enforce_csrf_checks=True)
        client.force_login(staff_user)
        client.get("/staff/")
        token = client.cookies["csrftoken"].value
        response = client.post(
            "/staff/lookup/", {"card": member.card_number, "csrfmiddlewaretoken": token}
        )
        assert response.status_code == 200
        assert member.name in response.content.decode()
