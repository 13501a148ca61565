"""Store staff accounts and a logged-in client for the staff scanner (/staff/)."""

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.test import Client

from pos_bridge.models import StaffRole, Store
from pos_bridge.services.staff import staff_member_create

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_staff_user(db) -> Callable[..., AbstractBaseUser]:
    def make(store: Store, username: str = "tanaka", **kwargs: Any) -> AbstractBaseUser:
        user = get_user_model().objects.create_user(username=username, password=PASSWORD)
        staff_member_create(user=user, store=store, role=kwargs.get("role", StaffRole.STORE_STAFF))
        return user

    return make


@pytest.fixture
def staff_user(store, make_staff_user) -> AbstractBaseUser:
    return make_staff_user(store, "tanaka")


@pytest.fixture
def other_staff_user(other_store, make_staff_user) -> AbstractBaseUser:
    return make_staff_user(other_store, "suzuki")


class StaffClient:
    """The staff pages through Django's test client, logged in through the login form."""

    def __init__(self, username: str, *, enforce_csrf_checks: bool = False) -> None:
        self.client = Client(enforce_csrf_checks=enforce_csrf_checks)
        self.username = username

    def login(self):
        return self.client.post("/staff/login/", {"username": self.username, "password": PASSWORD})

    def lookup(self, card: str, **extra: Any):
        return self.client.post("/staff/lookup/", {"card": card, **extra})

    def purchase(self, *, card: str, total: Any, points: Any = 0, form_key: str | None = None):
        """Look the card up (the real form gives the one-time key) and submit the sale."""
        if form_key is None:
            form_key = form_key_of(self.lookup(card))
        return self.client.post(
            "/staff/purchases/",
            {"card": card, "form_key": form_key, "total": total, "points_to_redeem": points},
        )

    def refund_page(self, receipt: str):
        return self.client.get("/staff/refunds/", {"receipt": receipt})

    def refund(self, *, receipt: str, amount: Any, form_key: str | None = None):
        if form_key is None:
            form_key = form_key_of(self.refund_page(receipt))
        return self.client.post(
            "/staff/refunds/", {"receipt_number": receipt, "form_key": form_key, "amount": amount}
        )


def form_key_of(response) -> str:
    match = re.search(r'name="form_key" value="([^"]+)"', response.content.decode())
    assert match, "the page has no one-time form key"
    return match.group(1)


@pytest.fixture
def staff(staff_user) -> StaffClient:
    client = StaffClient(staff_user.get_username())
    assert client.login().status_code == 302
    return client


@pytest.fixture
def other_staff(other_staff_user) -> StaffClient:
    client = StaffClient(other_staff_user.get_username())
    assert client.login().status_code == 302
    return client
