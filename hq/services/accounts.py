"""HQ logins: admins and analysts, each a Django user in one HQ group."""

import secrets
from dataclasses import dataclass

from django.contrib.auth.models import Group, User
from django.db import transaction

from hq.roles import HQ_GROUPS, HqRole


@dataclass(frozen=True)
class IssuedHqUser:
    user: User
    role: HqRole
    # Shown once; Django stores only its hash.
    password: str


def hq_user_create(*, username: str, role: HqRole) -> IssuedHqUser:
    """A new HQ login in the group for ``role``, with a random password (shown once).

    ``is_staff`` is on so the user can sign in through the admin login that HQ pages
    redirect to; analysts get no model permissions, so the admin shows them nothing.
    Raises ValueError for a store role and django's ValidationError (username taken).
    """
    if role not in HQ_GROUPS:
        raise ValueError(f"not an HQ role: {role}")
    password = secrets.token_urlsafe(12)
    with transaction.atomic():
        user = User(username=username, is_staff=True)
        user.set_password(password)
        user.full_clean()
        user.save()
        group, _ = Group.objects.get_or_create(name=role.value)
        user.groups.add(group)
    return IssuedHqUser(user=user, role=role, password=password)
