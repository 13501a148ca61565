"""Writing the audit log. Every HQ change to rules, campaigns, tiers, segments, messages,
points and members goes through ``audit_record`` (admin edits via ``AuditedAdminMixin``).

Call it inside the same transaction as the change it describes, so the log never claims a
change that rolled back, and never misses one that committed.
"""

import datetime
import decimal
import uuid
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models

from audit.models import AuditEntry

# Never copied into the log, whatever model they sit on.
SECRET_FIELDS = frozenset({"password", "key_hash", "token_hash", "nonce_hash", "secret_hash"})


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    return str(value)


def audit_snapshot(obj: models.Model) -> dict[str, Any]:
    """The row's fields as JSON-safe values: foreign keys as ids, many-to-many as sorted ids."""
    snapshot: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        if field.name in SECRET_FIELDS:
            continue
        snapshot[field.name] = _json_value(field.value_from_object(obj))
    if obj.pk is not None:
        for field in obj._meta.many_to_many:
            snapshot[field.name] = sorted(getattr(obj, field.name).values_list("pk", flat=True))
    return snapshot


def audit_record(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    action: str,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str = "",
    target_repr: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
) -> AuditEntry:
    """Append one entry. ``target`` fills type, id and text unless they are given."""
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or ("" if target.pk is None else str(target.pk))
        target_repr = target_repr or str(target)
    # AUTH_USER_MODEL is the only user model; the annotation stays abstract for callers.
    user: Any = actor if actor is not None and actor.is_authenticated else None
    return AuditEntry.objects.create(
        actor=user,
        actor_username=user.get_username() if user is not None else "(system)",
        action=action,
        target_type=target_type,
        target_id=target_id,
        target_repr=target_repr[:200],
        before=_json_value(before) if before is not None else {},
        after=_json_value(after) if after is not None else {},
        reason=reason,
    )
