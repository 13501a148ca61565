"""Messages sent automatically by an event: purchase receipts, tier-ups, link welcomes and
points-expiring reminders, with the texts HQ edits (``TriggeredMessage``).

Each ``trigger_*`` function writes to the outbox in the caller's transaction, so a purchase
that rolls back sends nothing and a replayed (idempotent) request, which does not run the
service again, sends nothing new. Recipients are members linked to a LINE friend that has
not blocked the account. These are account messages: the marketing opt-out does not apply.
"""

import datetime
import string
from collections.abc import Mapping
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record, audit_snapshot
from common import rowsql
from line_messaging.messages import Message, text
from line_messaging.models import ExpiryReminder, LineFriend, Trigger, TriggeredMessage
from line_messaging.services.outbox import outbox_message
from membership.models import Member, PointLot, Tier

# The placeholders each trigger's template may use.
PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    Trigger.PURCHASE_RECEIPT: (
        "name",
        "store",
        "total",
        "points_earned",
        "points_redeemed",
        "balance",
    ),
    Trigger.POINTS_EXPIRING: ("name", "points", "expires_on", "balance", "tier"),
    Trigger.TIER_UP: ("name", "tier", "balance"),
    Trigger.LINK_WELCOME: ("name", "balance", "tier"),
    # Step messages (broadcasts.StepMessage) share the checks under this key.
    "step_message": ("name", "balance", "tier"),
}
STEP_MESSAGE = "step_message"

# What a trigger sends until HQ edits it (the migration created the rows with these texts; a
# missing row, as after a test database flush, behaves as the default).
DEFAULT_TEMPLATES = {
    "purchase_receipt": (
        "{name}様、{store}でのお買い上げありがとうございます。\n"
        "お会計: {total}円\n"
        "獲得ポイント: {points_earned}ポイント\n"
        "ご利用ポイント: {points_redeemed}ポイント\n"
        "ポイント残高: {balance}ポイント"
    ),
    "points_expiring": (
        "{name}様、{expires_on}に{points}ポイントが有効期限を迎えます。\n"
        "現在のポイント残高: {balance}ポイント\n"
        "期限までのお買い物でぜひご利用ください。"
    ),
    "tier_up": (
        "{name}様、おめでとうございます!会員ランクが「{tier}」にアップしました。\n"
        "現在のポイント残高: {balance}ポイント\n"
        "これからもよろしくお願いいたします。"
    ),
    "link_welcome": (
        "{name}様、会員連携が完了しました。\n"
        "現在のポイント: {balance}ポイント\n"
        "お会計の際はメニューの「会員証」を開いてQRコードをご提示ください。"
    ),
}
DEFAULT_DAYS_BEFORE = 30


class TemplateInvalid(ValueError):
    pass


def template_check(*, trigger: str, template: str) -> None:
    """Raise ``TemplateInvalid`` (with a Japanese message for HQ) for a template that uses a
    placeholder the trigger does not offer, or braces that do not form a placeholder.

    Only bare names are accepted: ``{total:,}`` or ``{name.upper}`` would let a template
    reach into the values' attributes.
    """
    allowed = PLACEHOLDERS.get(trigger, ())
    allowed_text = " ".join(f"{{{name}}}" for name in allowed)
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise TemplateInvalid(
            "波かっこ { } の対応が正しくありません。文字として使うときは {{ }} と書いてください。"
        ) from exc
    for _literal, field_name, format_spec, conversion in fields:
        if field_name is None:
            continue
        if field_name not in allowed or format_spec or conversion:
            raise TemplateInvalid(
                f"差し込み項目 {{{field_name}}} は使えません。使える項目: {allowed_text}"
            )
    if not template.strip():
        raise TemplateInvalid("本文を入力してください。")


def triggered_message_update(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    trigger: str,
    enabled: bool,
    template: str,
    days_before: int | None = None,
) -> TriggeredMessage:
    """HQ switches a triggered message on/off and edits its text; audited in the same
    transaction. Raises ``TemplateInvalid`` (nothing written) for a bad template."""
    if trigger not in Trigger.values:
        raise ValueError(f"unknown trigger {trigger}")
    template_check(trigger=trigger, template=template)
    with transaction.atomic():
        setting = TriggeredMessage.objects.select_for_update().filter(trigger=trigger).first()
        before = audit_snapshot(setting) if setting is not None else None
        if setting is None:
            setting = TriggeredMessage(trigger=trigger, days_before=DEFAULT_DAYS_BEFORE)
        setting.enabled = enabled
        setting.template = template
        if days_before is not None:
            setting.days_before = days_before
        setting.full_clean()
        setting.save()
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE if before is not None else AuditAction.CREATE,
            target=setting,
            before=before,
            after=audit_snapshot(setting),
        )
    return setting


def triggered_messages() -> list[TriggeredMessage]:
    """Every trigger's settings, in the order of ``Trigger`` (defaults for missing rows)."""
    rows = {row.trigger: row for row in TriggeredMessage.objects.all()}
    return [
        rows.get(trigger)
        or TriggeredMessage(
            trigger=trigger,
            template=DEFAULT_TEMPLATES[trigger],
            days_before=DEFAULT_DAYS_BEFORE,
        )
        for trigger in Trigger.values
    ]


def template_render(*, trigger: str, template: str, values: Mapping[str, object]) -> str:
    template_check(trigger=trigger, template=template)
    return template.format_map({name: values.get(name, "") for name in PLACEHOLDERS[trigger]})


def _yen(amount: int) -> str:
    return f"{amount:,}"


def _date(day: datetime.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _recipient(member: Member) -> str | None:
    """The LINE user ID to message for the member: linked and not blocked, else None.

    Asked on every member purchase, so it is plain SQL (see ``common.rowsql``).
    """
    user_id: str | None = rowsql.fetch_value(_recipient_sql(), [member.pk])
    return user_id


@rowsql.statement
def _recipient_sql() -> str:
    return (
        f"SELECT user_id FROM {rowsql.table(LineFriend)}"  # noqa: S608
        " WHERE member_id = %s AND NOT is_blocked ORDER BY id LIMIT 1"
    )


_SETTING = rowsql.RowReader(TriggeredMessage, "s")


@rowsql.statement
def _setting_sql() -> str:
    return (
        f"SELECT {_SETTING.columns} FROM {rowsql.table(TriggeredMessage)} s"  # noqa: S608
        " WHERE s.trigger = %s"
    )


def _enabled(trigger: str) -> TriggeredMessage | None:
    """The trigger's settings, or None when HQ switched it off.

    Read fresh (an edit applies to the next message) in plain SQL: the receipt trigger asks
    on every purchase of a member who follows the account (see ``common.rowsql``).
    """
    setting: TriggeredMessage | None = _SETTING.fetch_first(_setting_sql(), [trigger])
    if setting is None:
        return TriggeredMessage(
            trigger=trigger, template=DEFAULT_TEMPLATES[trigger], days_before=DEFAULT_DAYS_BEFORE
        )
    return setting if setting.enabled else None


def _member_values(member: Member, tier: Tier | None = None) -> dict[str, object]:
    tier = tier if tier is not None else (member.tier if member.tier_id else None)
    return {
        "name": member.display_name,
        "balance": _yen(member.points_balance),
        "tier": tier.name if tier is not None else "",
    }


def _send(*, member: Member, trigger: str, values: Mapping[str, object], purpose: str) -> bool:
    line_user_id = _recipient(member)
    if line_user_id is None:
        return False
    setting = _enabled(trigger)
    if setting is None:
        return False
    body = template_render(trigger=trigger, template=setting.template, values=values)
    outbox_message(line_user_id=line_user_id, messages=[text(body)], purpose=purpose)
    return True


@dataclass(frozen=True)
class ReceiptData:
    store: str
    total: int
    points_earned: int
    points_redeemed: int


def trigger_purchase_receipt(*, member: Member, receipt: ReceiptData) -> bool:
    """Queue the receipt message for a member's purchase; True when one was queued.

    Call inside the purchase's transaction, after its points moved (``member`` holds the
    new balance).
    """
    return _send(
        member=member,
        trigger=Trigger.PURCHASE_RECEIPT,
        values={
            **_member_values(member),
            "store": receipt.store,
            "total": _yen(receipt.total),
            "points_earned": _yen(receipt.points_earned),
            "points_redeemed": _yen(receipt.points_redeemed),
        },
        purpose="receipt",
    )


def trigger_tier_change(*, member: Member, before: Tier | None, after: Tier | None) -> bool:
    """Queue the tier-up message when the member moved to a higher tier; True when queued.

    Reaching the entry tier (threshold 0) from none is not a promotion.
    """
    if after is None or (before is not None and after.min_spend_12m <= before.min_spend_12m):
        return False
    if before is None and after.min_spend_12m == 0:
        return False
    return _send(
        member=member,
        trigger=Trigger.TIER_UP,
        values=_member_values(member, tier=after),
        purpose="tier_up",
    )


def link_welcome_messages(*, member: Member, bonus_awarded: int) -> list[Message]:
    """The message confirming a new link: HQ's text, then the bonus notice if one was given.

    Empty when HQ switched the message off.
    """
    setting = _enabled(Trigger.LINK_WELCOME)
    if setting is None:
        return []
    body = template_render(
        trigger=Trigger.LINK_WELCOME, template=setting.template, values=_member_values(member)
    )
    if bonus_awarded:
        body += f"\n連携特典として{bonus_awarded:,}ポイントを付与しました。"
    return [text(body)]


@dataclass
class ReminderReport:
    sent: int = 0
    skipped: int = 0


def expiry_reminders_send(*, today: datetime.date | None = None) -> ReminderReport:
    """Remind linked members of points expiring within ``days_before`` days, once per member
    and expiry date.

    Safe from cron at any frequency and concurrently: each reminder is recorded
    (``ExpiryReminder``, unique per member and date) in the transaction that queues it.
    Members without a usable LINE link are not recorded, so they are reminded if they link
    (or unblock) while the date is still ahead.
    """
    report = ReminderReport()
    setting = _enabled(Trigger.POINTS_EXPIRING)
    if setting is None:
        return report
    today = today or timezone.localdate()
    last_day = today + datetime.timedelta(days=setting.days_before)
    due = (
        PointLot.objects.filter(
            remaining__gt=0,
            expires_on__gte=today,
            expires_on__lte=last_day,
            member__line_friend__is_blocked=False,
        )
        .values("member_id", "expires_on")
        .annotate(points=Sum("remaining"))
        .order_by("member_id", "expires_on")
    )
    already = set(
        ExpiryReminder.objects.filter(expires_on__gte=today, expires_on__lte=last_day).values_list(
            "member_id", "expires_on"
        )
    )
    for row in due:
        if (row["member_id"], row["expires_on"]) in already:
            continue
        if _expiry_reminder_send(
            setting=setting,
            member_id=row["member_id"],
            expires_on=row["expires_on"],
            points=row["points"],
        ):
            report.sent += 1
        else:
            report.skipped += 1
    return report


def _expiry_reminder_send(
    *, setting: TriggeredMessage, member_id: int, expires_on: datetime.date, points: int
) -> bool:
    member = Member.objects.select_related("tier").get(pk=member_id)
    line_user_id = _recipient(member)
    if line_user_id is None:
        return False
    try:
        with transaction.atomic():
            ExpiryReminder.objects.create(
                member=member, expires_on=expires_on, points=points, sent_at=timezone.now()
            )
            body = template_render(
                trigger=Trigger.POINTS_EXPIRING,
                template=setting.template,
                values={
                    **_member_values(member),
                    "points": _yen(points),
                    "expires_on": _date(expires_on),
                },
            )
            outbox_message(
                line_user_id=line_user_id, messages=[text(body)], purpose="points_expiring"
            )
    except IntegrityError:
        # A parallel run reminded this member of this date a moment ago.
        return False
    return True
