"""Logins for each HQ role, for the purchase, member and audit page tests."""

from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User
from django.test import Client

from hq.roles import HqRole
from pos_bridge.models import StaffRole, Store
from pos_bridge.services.staff import staff_member_create

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def make_user(db) -> Callable[..., User]:
    """A login with ``role``: "superuser", an HQ group, a store role (needs ``store``), or
    "no_role"."""

    def make(role: str, *, store: Store | None = None, username: str = "") -> User:
        user = get_user_model().objects.create_user(
            username=username or f"u-{role}-{store.code if store else 'hq'}", password=PASSWORD
        )
        if role == "superuser":
            user.is_superuser = user.is_staff = True
            user.save()
        elif role in (HqRole.HQ_ADMIN, HqRole.HQ_ANALYST):
            user.groups.add(Group.objects.get_or_create(name=role)[0])
        elif role in StaffRole.values:
            assert store is not None
            staff_member_create(user=user, store=store, role=role)
        return user

    return make


@pytest.fixture
def client_for(make_user) -> Callable[..., Client]:
    def make(role: str, *, store: Store | None = None, csrf: bool = False) -> Client:
        client = Client(enforce_csrf_checks=csrf)
        client.force_login(make_user(role, store=store))
        return client

    return make
