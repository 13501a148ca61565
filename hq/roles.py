"""Who may do what under /hq/: the one place that turns a login into an HQ role.

- HQ admin: a superuser or a member of the ``hq_admin`` group. Everything.
- HQ analyst: the ``hq_analyst`` group. Read-only; personal data is masked.
- Store manager / store staff: a ``StaffMember`` login, limited to its own store.

HQ groups win over a staff record, so an HQ user who also has a store login keeps HQ rights.
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase
from django.urls import reverse

from pos_bridge.models import StaffMember, StaffRole, Store


class HqRole(StrEnum):
    HQ_ADMIN = "hq_admin"
    HQ_ANALYST = "hq_analyst"
    STORE_MANAGER = StaffRole.STORE_MANAGER.value
    STORE_STAFF = StaffRole.STORE_STAFF.value


HQ_GROUPS = (HqRole.HQ_ADMIN, HqRole.HQ_ANALYST)
HQ_ROLES = frozenset(HQ_GROUPS)
ALL_ROLES = frozenset(HqRole)


@dataclass(frozen=True)
class HqAccess:
    role: HqRole
    # Set for store roles only: the one store whose data they may see.
    store: Store | None = None

    @property
    def is_hq(self) -> bool:
        return self.role in HQ_ROLES

    @property
    def masks_personal_data(self) -> bool:
        return self.role is HqRole.HQ_ANALYST


def hq_access_for_user(user: User | AnonymousUser) -> HqAccess | None:
    """The user's HQ role, or None (anonymous, inactive, or no role at all)."""
    if not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser:
        return HqAccess(role=HqRole.HQ_ADMIN)
    names = [group.value for group in HQ_GROUPS]
    groups = set(user.groups.filter(name__in=names).values_list("name", flat=True))
    if HqRole.HQ_ADMIN.value in groups:
        return HqAccess(role=HqRole.HQ_ADMIN)
    if HqRole.HQ_ANALYST.value in groups:
        return HqAccess(role=HqRole.HQ_ANALYST)
    staff = StaffMember.objects.select_related("store").filter(user_id=user.pk).first()
    if staff is None:
        return None
    return HqAccess(role=HqRole(staff.role), store=staff.store)


def hq_role_required(
    *roles: HqRole,
) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """Guard an HQ view: anonymous → admin login, a login without one of ``roles`` → 403.

    The view finds the caller's role with ``request_hq_access(request)``.
    """
    allowed = frozenset(roles)

    def decorator(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path(), reverse("admin:login"))
            access = hq_access_for_user(request.user)
            if access is None or access.role not in allowed:
                raise PermissionDenied
            request.hq_access = access  # type: ignore[attr-defined]
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def request_hq_access(request: HttpRequest) -> HqAccess:
    """The role ``hq_role_required`` found for this request."""
    access: HqAccess = request.hq_access  # type: ignore[attr-defined]
    return access
