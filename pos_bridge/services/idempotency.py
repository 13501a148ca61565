"""Exactly-once execution of POS writes that a client may retry (Idempotency-Key).

Protocol:
1. *Claim* the key in its own short transaction by inserting an ``in_progress`` record with
   a lease. If the key exists: a different request body → ``IdempotencyKeyReused``; done →
   replay the stored response; in progress and leased → ``IdempotencyRequestInProgress``;
   in progress with the lease run out (its worker died) → take it over.
2. *Run* the business write in a transaction that first locks the record row and, in the
   same commit, stores the response and marks the record done. The write and its stored
   response therefore commit together: nothing acknowledged is lost, nothing runs twice.
3. If the write fails with an error, nothing was written, so the claim is released and a
   corrected retry with the same key can run.
"""

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from common import rowsql
from pos_bridge.errors import (
    IdempotencyKeyInvalid,
    IdempotencyKeyMissing,
    IdempotencyKeyReused,
    IdempotencyRequestInProgress,
    StoreInactive,
)
from pos_bridge.models import IdempotencyRecord, IdempotencyState, Store, Terminal

_KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: dict[str, Any]


def idempotency_key_validate(key: str | None) -> str:
    if key is None or key == "":
        raise IdempotencyKeyMissing()
    if not _KEY_PATTERN.fullmatch(key):
        raise IdempotencyKeyInvalid()
    return key


def request_fingerprint(*, operation: str, payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{operation}\n{canonical}".encode()).hexdigest()


def idempotent_call(
    *,
    terminal: Terminal,
    key: str | None,
    operation: str,
    payload: dict[str, Any],
    run: Callable[[], StoredResponse],
) -> StoredResponse:
    """Run ``run`` at most once per (terminal, key); replay its response on retries.

    ``payload`` is the validated request; the same key with a different payload or
    operation is refused. ``run`` must do all its writes in the current transaction.
    """
    key = idempotency_key_validate(key)
    fingerprint = request_fingerprint(operation=operation, payload=payload)
    record, replay = _claim(
        terminal=terminal, key=key, operation=operation, fingerprint=fingerprint
    )
    if replay is not None:
        return replay
    assert record is not None
    try:
        with transaction.atomic():
            # Whether the store is open comes fresh with the lock: authentication may have
            # been answered from a cache a few seconds old (``terminal_authenticate``).
            locked, store_active = _record_lock(record.pk)
            if locked is None:
                # Another taker of an abandoned key failed and released it: let the client
                # retry rather than run without a claim.
                raise IdempotencyRequestInProgress(idempotency_key=key)
            if locked.state == IdempotencyState.DONE:
                # A takeover finished while this request waited for the lock.
                return _stored(locked)
            if not store_active:
                raise StoreInactive(store=terminal.store.code)
            response = run()
            locked.state = IdempotencyState.DONE
            locked.response_status = response.status
            locked.response_body = response.body
            locked.completed_at = timezone.now()
            rowsql.row_update(locked, ["state", "response_status", "response_body", "completed_at"])
            return response
    except BaseException:
        IdempotencyRecord.objects.filter(pk=record.pk, state=IdempotencyState.IN_PROGRESS).delete()
        raise


_RECORD = rowsql.RowReader(IdempotencyRecord, "r")


@rowsql.statement
def _record_lock_sql() -> str:
    return (
        f"SELECT {_RECORD.columns}, s.active FROM {rowsql.table(IdempotencyRecord)} r"  # noqa: S608
        f" JOIN {rowsql.table(Terminal)} t ON t.id = r.terminal_id"
        f" JOIN {rowsql.table(Store)} s ON s.id = t.store_id"
        f" WHERE r.id = %s{rowsql.for_update_of('r')}"
    )


def _record_lock(record_id: int) -> tuple[IdempotencyRecord | None, bool]:
    """Lock the record row; return it (None if gone) and whether its store is active.

    Plain SQL: it runs on every POS write (see ``common.rowsql``).
    """
    with connection.cursor() as cursor:
        cursor.execute(_record_lock_sql(), [record_id])
        row = cursor.fetchone()
    if row is None:
        return None, False
    return _RECORD.build(row), bool(row[-1])


def _stored(record: IdempotencyRecord) -> StoredResponse:
    assert record.response_status is not None and record.response_body is not None
    return StoredResponse(status=record.response_status, body=record.response_body)


def _claim(
    *, terminal: Terminal, key: str, operation: str, fingerprint: str
) -> tuple[IdempotencyRecord | None, StoredResponse | None]:
    # Two rounds: the existing record can vanish between the failed insert and the read
    # when its request failed and released the key.
    for _round in range(2):
        now = timezone.now()
        lease = timedelta(seconds=settings.IDEMPOTENCY_LEASE_SECONDS)
        record = IdempotencyRecord(
            terminal=terminal,
            key=key,
            operation=operation,
            request_hash=fingerprint,
            state=IdempotencyState.IN_PROGRESS,
            lease_expires_at=now + lease,
            created_at=now,
        )
        try:
            if transaction.get_connection().in_atomic_block:
                # Inside a caller's transaction a failed insert must not doom it.
                with transaction.atomic():
                    rowsql.row_insert(record)
            else:
                # One INSERT in autocommit is its own transaction: no BEGIN/COMMIT trips.
                rowsql.row_insert(record)
            return record, None
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(terminal=terminal, key=key).first()
        if existing is None:
            continue
        if existing.request_hash != fingerprint or existing.operation != operation:
            raise IdempotencyKeyReused(idempotency_key=key)
        if existing.state == IdempotencyState.DONE:
            return None, _stored(existing)
        if existing.lease_expires_at > now:
            raise IdempotencyRequestInProgress(idempotency_key=key)
        # The first attempt's worker died holding the lease; take the key over. The row
        # lock taken in idempotent_call serialises us with any straggler.
        IdempotencyRecord.objects.filter(pk=existing.pk).update(lease_expires_at=now + lease)
        return existing, None
    raise IdempotencyRequestInProgress(idempotency_key=key)


def idempotency_records_purge(*, older_than_hours: int | None = None) -> int:
    """Forget finished keys older than the TTL (at least 72 hours). Returns how many."""
    hours = max(72, older_than_hours or settings.IDEMPOTENCY_KEY_TTL_HOURS)
    cutoff = timezone.now() - timedelta(hours=hours)
    deleted, _ = IdempotencyRecord.objects.filter(
        created_at__lt=cutoff, state=IdempotencyState.DONE
    ).delete()
    return deleted
