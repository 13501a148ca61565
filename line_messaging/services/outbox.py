"""The outbox: what we owe LINE, written with the change that causes it, delivered once.

Writing: ``outbox_*`` functions add rows inside the caller's transaction, so a message exists
exactly when its cause committed (nothing acknowledged is lost).

Delivering (``outbox_deliver_due``, run by ``deliver_messages`` or Celery):
- rows are claimed with a lease (``locked_until``); a worker killed mid-delivery leaves its
  rows to be claimed again when the lease runs out;
- push and multicast carry the row's ``X-Line-Retry-Key``: a resend after LINE accepted the
  first try answers 409, which counts as delivered, so a crash never sends twice;
- 429, 5xx and timeouts back off exponentially; other 4xx fail permanently (visible in the
  admin); blocked users are skipped;
- a reply token works once and cannot carry a retry key. A reply whose first try failed
  cleanly is sent again as a push; a reply whose first try was cut off by a crash is not,
  because LINE may already have shown it.
"""

import logging
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from linebot.v3.messaging import (
    MulticastRequest,
    PushMessageRequest,
    ReplyMessageRequest,
)
from linebot.v3.messaging.exceptions import ApiException
from urllib3.exceptions import HTTPError as Urllib3HTTPError

from common import rowsql
from line_messaging.client import REQUEST_TIMEOUT, messaging_api
from line_messaging.models import (
    LineFriend,
    OutboxKind,
    OutboxMessage,
    OutboxState,
    RateSlot,
    RichMenuDeployment,
)

logger = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 12
MAX_BACKOFF = timedelta(hours=1)
MULTICAST_MAX_RECIPIENTS = 500
MESSAGES_PER_REQUEST = 5
# LINE allows 200 multicast requests per second per channel
# (https://developers.line.biz/en/reference/messaging-api/#rate-limits). Workers share one
# counter in the database and stay at half of it by default, leaving room for clock skew
# between our seconds and LINE's window. Setting: LINE_MULTICAST_PER_SECOND (default 100).


# --- writing -----------------------------------------------------------------------------


def _enqueue(
    *, kind: str, line_user_id: str = "", payload: dict[str, Any], purpose: str
) -> OutboxMessage:
    row = OutboxMessage(
        kind=kind,
        line_user_id=line_user_id,
        payload=payload,
        purpose=purpose,
        next_attempt_at=timezone.now(),
    )
    # Plain SQL (see common.rowsql): a receipt is queued on most member purchases.
    rowsql.row_insert(row)
    transaction.on_commit(_kick_worker)
    return row


def outbox_message(
    *,
    line_user_id: str,
    messages: list[dict[str, Any]],
    purpose: str,
    reply_token: str | None = None,
) -> list[OutboxMessage]:
    """Queue messages for one user: a reply when a reply token is at hand, else a push.

    More than five messages become several requests (LINE's limit per request).
    """
    rows = []
    for start in range(0, len(messages), MESSAGES_PER_REQUEST):
        chunk = messages[start : start + MESSAGES_PER_REQUEST]
        use_reply = reply_token is not None and start == 0
        rows.append(
            _enqueue(
                kind=OutboxKind.REPLY if use_reply else OutboxKind.PUSH,
                line_user_id=line_user_id,
                payload={"messages": chunk, "reply_token": reply_token if use_reply else None},
                purpose=purpose,
            )
        )
    return rows


def outbox_multicast(
    *, line_user_ids: list[str], messages: list[dict[str, Any]], purpose: str
) -> list[OutboxMessage]:
    """Queue a message to many users, as multicasts of at most 500 recipients each."""
    if not 1 <= len(messages) <= MESSAGES_PER_REQUEST:
        raise ValueError("a multicast carries 1 to 5 messages")
    return [
        _enqueue(
            kind=OutboxKind.MULTICAST,
            payload={"to": line_user_ids[i : i + MULTICAST_MAX_RECIPIENTS], "messages": messages},
            purpose=purpose,
        )
        for i in range(0, len(line_user_ids), MULTICAST_MAX_RECIPIENTS)
    ]


def outbox_link_token_reply(*, line_user_id: str, reply_token: str | None) -> OutboxMessage:
    """Issue a LINE link token for the user, then send them the link to our link page."""
    return _enqueue(
        kind=OutboxKind.LINK_TOKEN,
        line_user_id=line_user_id,
        payload={"reply_token": reply_token},
        purpose="link_start",
    )


def outbox_richmenu_for_link_state(*, line_user_id: str, linked: bool) -> OutboxMessage:
    """Show the linked menu, or drop the per-user menu so the default (unlinked) shows."""
    if linked:
        return _enqueue(
            kind=OutboxKind.RICHMENU_LINK,
            line_user_id=line_user_id,
            payload={"menu": "linked"},
            purpose="richmenu",
        )
    return _enqueue(
        kind=OutboxKind.RICHMENU_UNLINK, line_user_id=line_user_id, payload={}, purpose="richmenu"
    )


def outbox_redact_for_users(*, line_user_ids: list[str]) -> int:
    """Erase the texts already sent to these users (member withdrawal: receipts and
    greetings carry the name). Kind, purpose, state and times stay for the delivery
    statistics; rows still pending are left to be delivered."""
    return (
        OutboxMessage.objects.filter(line_user_id__in=line_user_ids)
        .exclude(state=OutboxState.PENDING)
        .update(payload={"redacted": True})
    )


def _kick_worker() -> None:
    """With Celery configured, wake a worker now instead of waiting for its next poll."""
    if not getattr(settings, "CELERY_BROKER_URL", ""):
        return
    try:
        from line_messaging.tasks import deliver_outbox

        deliver_outbox.delay()
    except Exception:  # the polling worker and the next kick still deliver it
        logger.warning("could not enqueue the outbox task", exc_info=True)


# --- delivering --------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0
    # Held back by our rate limit (not attempts): they go out in a later second.
    deferred: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        return self.sent + self.retried + self.failed + self.skipped


class _Retry(Exception):
    pass


class _Permanent(Exception):
    pass


class _Skip(Exception):
    pass


class _Defer(Exception):
    """Not tried: our share of LINE's rate limit for this second is used up."""


@dataclass(frozen=True)
class _Claim:
    row: OutboxMessage
    lease: datetime
    # The row was claimed before and its worker never reported back: the outcome of that
    # try is unknown.
    in_doubt: bool


def _claim_due(limit: int) -> list[_Claim]:
    """Lease up to ``limit`` due rows, messages to one user before multicasts.

    A segment send to a million friends queues about 2,000 multicasts, paced by the rate
    limit; a receipt or a link reply queued meanwhile must not wait behind them.
    """
    now = timezone.now()
    lease = now + LEASE
    with transaction.atomic():
        due = (
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(state=OutboxState.PENDING, next_attempt_at__lte=now)
            .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
            .order_by("next_attempt_at", "id")
        )
        rows = list(due.exclude(kind=OutboxKind.MULTICAST)[:limit])
        if len(rows) < limit:
            rows += list(due.filter(kind=OutboxKind.MULTICAST)[: limit - len(rows)])
        if not rows:
            return []
        OutboxMessage.objects.filter(pk__in=[r.pk for r in rows]).update(
            locked_until=lease, attempts=F("attempts") + 1
        )
    claims = []
    for row in rows:
        in_doubt = row.locked_until is not None
        row.attempts += 1
        row.locked_until = lease
        claims.append(_Claim(row=row, lease=lease, in_doubt=in_doubt))
    return claims


def _finish(claim: _Claim, **fields: Any) -> bool:
    """Record the outcome unless another worker took the row over meanwhile."""
    fields.setdefault("locked_until", None)
    updated = OutboxMessage.objects.filter(pk=claim.row.pk, locked_until=claim.lease).update(
        **fields
    )
    return updated == 1


def outbox_deliver_due(*, limit: int = 100) -> DeliveryReport:
    """Deliver up to ``limit`` due rows once each; returns what happened to them."""
    report = DeliveryReport()
    for claim in _claim_due(limit):
        row = claim.row
        try:
            _deliver(claim)
        except _Defer:
            # Not an attempt: give back the count the claim took, try again next second.
            _finish(
                claim,
                attempts=F("attempts") - 1,
                next_attempt_at=timezone.now() + timedelta(seconds=1),
            )
            report.deferred += 1
        except _Skip as exc:
            _finish(claim, state=OutboxState.SKIPPED, last_error=str(exc))
            report.skipped += 1
        except _Permanent as exc:
            _finish(claim, state=OutboxState.FAILED, last_error=str(exc))
            report.failed += 1
            report.errors.append(f"{row.pk}: {exc}")
        except _Retry as exc:
            if row.attempts >= MAX_ATTEMPTS:
                _finish(claim, state=OutboxState.FAILED, last_error=f"gave up: {exc}")
                report.failed += 1
                report.errors.append(f"{row.pk}: gave up: {exc}")
            else:
                _finish(
                    claim,
                    next_attempt_at=timezone.now() + _backoff(row.attempts),
                    last_error=str(exc),
                )
                report.retried += 1
        else:
            _finish(claim, state=OutboxState.SENT, sent_at=timezone.now(), last_error="")
            report.sent += 1
    return report


def outbox_drain(*, max_rounds: int = 1000) -> DeliveryReport:
    """Deliver until nothing is due (rows waiting for a backoff stay pending)."""
    total = DeliveryReport()
    for _round in range(max_rounds):
        report = outbox_deliver_due()
        total.sent += report.sent
        total.retried += report.retried
        total.failed += report.failed
        total.skipped += report.skipped
        total.deferred += report.deferred
        total.errors += report.errors
        if report.handled == 0:
            if report.deferred:
                # Everything due is waiting for the next second of the rate limit.
                time.sleep(1)
                continue
            break
    return total


def _backoff(attempts: int) -> timedelta:
    # 2, 4, 8, ... seconds, capped, with jitter so a burst of 429s does not retry in step.
    seconds = min(2**attempts, MAX_BACKOFF.total_seconds())
    return timedelta(seconds=seconds * random.uniform(0.8, 1.2))


def _deliver(claim: _Claim) -> None:
    row = claim.row
    if (
        row.line_user_id
        and LineFriend.objects.filter(user_id=row.line_user_id, is_blocked=True).exists()
    ):
        raise _Skip("the user has blocked the account")
    try:
        with messaging_api() as api:
            if row.kind == OutboxKind.PUSH:
                _push(api, row)
            elif row.kind == OutboxKind.REPLY:
                _reply_or_push(api, claim)
            elif row.kind == OutboxKind.MULTICAST:
                _multicast(api, claim)
            elif row.kind == OutboxKind.LINK_TOKEN:
                _link_token(api, row)
            elif row.kind == OutboxKind.RICHMENU_LINK:
                menu = RichMenuDeployment.objects.filter(name=row.payload["menu"]).first()
                if menu is None:
                    raise _Permanent(
                        f"rich menu '{row.payload['menu']}' is not deployed: run richmenu_deploy"
                    )
                api.link_rich_menu_id_to_user(
                    row.line_user_id, menu.rich_menu_id, _request_timeout=REQUEST_TIMEOUT
                )
            elif row.kind == OutboxKind.RICHMENU_UNLINK:
                _unlink_richmenu(api, row)
            else:
                raise _Permanent(f"unknown outbox kind {row.kind}")
    except ApiException as exc:
        _raise_for_api_error(exc)
    except (Urllib3HTTPError, OSError) as exc:
        raise _Retry(f"network: {exc}") from exc


def _raise_for_api_error(exc: ApiException) -> None:
    status = exc.status or 0
    if status == 429 or status >= 500:
        raise _Retry(f"LINE {status}: {exc.body}") from exc
    raise _Permanent(f"LINE {status}: {exc.body}") from exc


def _is_already_accepted(exc: ApiException) -> bool:
    headers = exc.headers or {}
    return exc.status == 409 and any(k.lower() == "x-line-accepted-request-id" for k in headers)


def _push(api, row: OutboxMessage) -> None:
    request = PushMessageRequest.from_dict(
        {"to": row.line_user_id, "messages": row.payload["messages"]}
    )
    try:
        api.push_message(
            request, x_line_retry_key=str(row.retry_key), _request_timeout=REQUEST_TIMEOUT
        )
    except ApiException as exc:
        if not _is_already_accepted(exc):
            raise


def rate_slot_take(*, bucket: str, limit: int, now: datetime | None = None) -> bool:
    """Count one call against ``bucket`` in the current second; False when ``limit`` calls
    were already made in it (by any worker)."""
    second = int((now or timezone.now()).timestamp())
    with transaction.atomic():
        slot, _created = RateSlot.objects.select_for_update().get_or_create(
            bucket=bucket, second=second
        )
        if slot.used >= limit:
            return False
        RateSlot.objects.filter(pk=slot.pk).update(used=F("used") + 1)
    return True


def rate_slots_purge(*, older_than: timedelta = timedelta(minutes=5)) -> int:
    cutoff = int((timezone.now() - older_than).timestamp())
    deleted, _by_model = RateSlot.objects.filter(second__lt=cutoff).delete()
    return deleted


def _multicast(api, claim: _Claim) -> None:
    row = claim.row
    blocked = set(
        LineFriend.objects.filter(user_id__in=row.payload["to"], is_blocked=True).values_list(
            "user_id", flat=True
        )
    )
    recipients = [u for u in row.payload["to"] if u not in blocked]
    # Who was left out is kept on the row: broadcast reports count them as skipped.
    if blocked or "skipped" in row.payload:
        row.payload = {**row.payload, "skipped": sorted(blocked)}
        OutboxMessage.objects.filter(pk=row.pk, locked_until=claim.lease).update(
            payload=row.payload, recipients_skipped=len(blocked)
        )
    if not recipients:
        raise _Skip("every recipient has blocked the account")
    limit = settings.LINE_MULTICAST_PER_SECOND
    if not rate_slot_take(bucket="multicast", limit=limit):
        raise _Defer
    request = MulticastRequest.from_dict({"to": recipients, "messages": row.payload["messages"]})
    try:
        api.multicast(
            request, x_line_retry_key=str(row.retry_key), _request_timeout=REQUEST_TIMEOUT
        )
    except ApiException as exc:
        if not _is_already_accepted(exc):
            raise


def _reply_or_push(api, claim: _Claim) -> None:
    row = claim.row
    token = row.payload.get("reply_token")
    if token and row.attempts == 1:
        request = ReplyMessageRequest.from_dict(
            {"replyToken": token, "messages": row.payload["messages"]}
        )
        try:
            api.reply_message(request, _request_timeout=REQUEST_TIMEOUT)
            return
        except ApiException as exc:
            if exc.status != 400:
                raise
            # The token expired or was refused: the message has not been shown. Push it.
    elif claim.in_doubt:
        raise _Skip("a reply was cut off by a worker crash; not re-sent in case LINE showed it")
    _push(api, row)


def _link_token(api, row: OutboxMessage) -> None:
    from line_messaging.services.linking import link_token_record, link_url_messages

    response = api.issue_link_token(row.line_user_id, _request_timeout=REQUEST_TIMEOUT)
    with transaction.atomic():
        link_token_record(line_user_id=row.line_user_id, link_token=response.link_token)
        outbox_message(
            line_user_id=row.line_user_id,
            messages=link_url_messages(response.link_token),
            reply_token=row.payload.get("reply_token"),
            purpose="link_url",
        )


def _unlink_richmenu(api, row: OutboxMessage) -> None:
    try:
        api.unlink_rich_menu_id_from_user(row.line_user_id, _request_timeout=REQUEST_TIMEOUT)
    except ApiException as exc:
        # Nothing linked to this user is the state we wanted.
        if exc.status != 404:
            raise
