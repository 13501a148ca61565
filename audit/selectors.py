"""Reads over the audit log for the HQ viewer."""

import datetime
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from audit.models import AuditAction, AuditEntry
from common.periods import PeriodInvalid, day_bounds, query_period

PAGE_SIZE = 50
# Snapshot keys that hold personal data: masked for viewers who may not see it.
PERSONAL_KEYS = frozenset(
    {"name", "name_kana", "phone", "email", "birth_date", "display_name", "first_name",
     "last_name"}
)  # fmt: skip


class AuditFilterInvalid(ValueError):
    def __init__(self, messages: list[str]) -> None:
        self.messages = messages
        super().__init__(" / ".join(messages))


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""
    action: str = ""
    target_type: str = ""
    date_from: datetime.date | None = None
    date_to: datetime.date | None = None
    before: int | None = None


def audit_filter_parse(query: Any) -> AuditFilter:
    """From ``?actor=&action=&target_type=&from=&to=&before=``; raises AuditFilterInvalid."""
    errors: list[str] = []

    date_from = date_to = None
    try:
        date_from, date_to = query_period(query)
    except PeriodInvalid as exc:
        errors.append(f"{exc}。")
    action = (query.get("action") or "").strip()
    if action and action not in AuditAction.values:
        errors.append("操作の指定が正しくありません。")
    raw_before = (query.get("before") or "").strip()
    before = None
    if raw_before:
        if not raw_before.isdigit() or len(raw_before) > 18:
            errors.append("ページの指定が正しくありません。")
        else:
            before = int(raw_before)
    if errors:
        raise AuditFilterInvalid(errors)
    return AuditFilter(
        actor=(query.get("actor") or "").strip()[:150],
        action=action,
        target_type=(query.get("target_type") or "").strip()[:100],
        date_from=date_from,
        date_to=date_to,
        before=before,
    )


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    next_before: int | None


def audit_entries(*, flt: AuditFilter) -> AuditPage:
    """A page of entries matching the filter, newest first.

    Keyset on id alone: entries are stamped when written (``auto_now_add``), so id order is
    time order and the primary key index pages without OFFSET.
    """
    qs: QuerySet[AuditEntry] = AuditEntry.objects.select_related("actor").order_by("-id")
    if flt.actor:
        qs = qs.filter(actor_username=flt.actor)
    if flt.action:
        qs = qs.filter(action=flt.action)
    if flt.target_type:
        qs = qs.filter(target_type=flt.target_type)
    start, end = day_bounds(flt.date_from, flt.date_to)
    if start:
        qs = qs.filter(occurred_at__gte=start)
    if end:
        qs = qs.filter(occurred_at__lt=end)
    if flt.before is not None:
        qs = qs.filter(id__lt=flt.before)
    rows = list(qs[: PAGE_SIZE + 1])
    entries = rows[:PAGE_SIZE]
    more = len(rows) > PAGE_SIZE
    return AuditPage(entries=entries, next_before=entries[-1].pk if more else None)


def audit_target_types() -> list[str]:
    """The target types that occur in the log, for the filter's choices."""
    return list(
        AuditEntry.objects.order_by("target_type").values_list("target_type", flat=True).distinct()
    )


@dataclass(frozen=True)
class AuditChange:
    field: str
    before: object
    after: object


def audit_changes(*, entry: AuditEntry, masked: bool) -> list[AuditChange]:
    """The entry's changed fields; personal values replaced by ``***`` when ``masked``."""
    changes = []
    for name, before, after in entry.changed_fields():
        if masked and name in PERSONAL_KEYS:
            before = "***" if before not in (None, "") else before
            after = "***" if after not in (None, "") else after
        changes.append(AuditChange(field=name, before=before, after=after))
    return changes
