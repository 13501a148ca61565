"""Logins per HQ role, linked LINE friends in bulk, and the LINE sandbox on a live server."""

import itertools
import re
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User
from django.test import Client

from hq.roles import HqRole
from line_messaging.models import LineFriend
from line_sandbox.models import FriendStatus, SandboxUser
from membership.models import Member
from pos_bridge.models import StaffRole, Store
from pos_bridge.services.staff import staff_member_create
from tests.line_messaging.conftest import line  # noqa: F401 - the LINE sandbox fixture

_usernames = itertools.count(1)
_cards = itertools.count(70_000_001)


@pytest.fixture
def make_user(db) -> Callable[..., User]:
    def make(role: str, *, store: Store | None = None) -> User:
        user = get_user_model().objects.create_user(
            username=f"bc-{role}-{next(_usernames)}", password="correct-horse-battery"
        )
        if role in (HqRole.HQ_ADMIN, HqRole.HQ_ANALYST):
            user.groups.add(Group.objects.get_or_create(name=role)[0])
        elif role in StaffRole.values:
            assert store is not None
            staff_member_create(user=user, store=store, role=role)
        return user

    return make


class CsrfClient:
    """A logged-in browser that must send the CSRF token the page gave it."""

    def __init__(self, user: User) -> None:
        self.user = user
        self.client = Client(enforce_csrf_checks=True)
        self.client.force_login(user)

    def get(self, path: str, **kwargs: Any):
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict[str, Any], *, page: str | None = None):
        """POST like the form on ``page`` (default: ``path``) would, token included."""
        form_page = self.client.get(page or path)
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', form_page.content)
        assert token is not None, f"no CSRF token on {page or path} ({form_page.status_code})"
        return self.client.post(path, {**data, "csrfmiddlewaretoken": token.group(1).decode()})


@pytest.fixture
def hq_admin(make_user) -> CsrfClient:
    return CsrfClient(make_user(HqRole.HQ_ADMIN))


@pytest.fixture
def analyst(make_user) -> Client:
    client = Client()
    client.force_login(make_user(HqRole.HQ_ANALYST))
    return client


def new_user_id() -> str:
    return "U" + secrets.token_hex(16)


def link_friends(
    members: list[Member],
    *,
    blocked: bool = False,
    opted_in: bool = True,
    sandbox: bool = False,
) -> list[LineFriend]:
    """Linked LINE friends for ``members`` in bulk; ``sandbox`` also makes them sandbox users
    who follow the account (or blocked it)."""
    friends = [
        LineFriend(
            user_id=new_user_id(),
            member=member,
            is_blocked=blocked,
            marketing_opt_in=opted_in,
            display_name=f"友だち{member.pk}",
        )
        for member in members
    ]
    LineFriend.objects.bulk_create(friends, batch_size=500)
    if sandbox:
        SandboxUser.objects.bulk_create(
            [
                SandboxUser(
                    user_id=f.user_id,
                    display_name=f.display_name,
                    friend_status=FriendStatus.BLOCKED if blocked else FriendStatus.FRIEND,
                )
                for f in friends
            ],
            batch_size=500,
        )
    return friends


def bulk_members(n: int, **fields: Any) -> list[Member]:
    import datetime

    fields.setdefault("birth_date", datetime.date(1990, 4, 1))
    fields.setdefault("joined_on", datetime.date(2020, 1, 1))
    rows = [Member(card_number=str(next(_cards)), name="会員", **fields) for _ in range(n)]
    Member.objects.bulk_create(rows, batch_size=500)
    return list(Member.objects.filter(card_number__in=[m.card_number for m in rows]).order_by("pk"))
