"""The one periodic job for scheduled messaging work (``run_message_jobs``, Celery task)."""

import datetime
from dataclasses import dataclass, field

from django.utils import timezone

from broadcasts.services.broadcasts import BroadcastJobReport, broadcasts_run_due
from broadcasts.services.steps import StepReport, step_messages_send
from line_messaging.services.outbox import rate_slots_purge
from line_messaging.services.triggers import ReminderReport, expiry_reminders_send


@dataclass
class MessageJobsReport:
    broadcasts: BroadcastJobReport = field(default_factory=BroadcastJobReport)
    steps: StepReport = field(default_factory=StepReport)
    reminders: ReminderReport | None = None

    def summary(self) -> str:
        b = self.broadcasts
        line = (
            f"broadcasts started {b.started}, batches {b.batches}, recipients {b.recipients}, "
            f"finished {b.finished}; step messages {self.steps.sent}"
        )
        if self.reminders is not None:
            line += f"; expiry reminders {self.reminders.sent}"
        return line


def message_jobs_run(
    *,
    now: datetime.datetime | None = None,
    max_batches: int | None = None,
    reminders: bool = True,
) -> MessageJobsReport:
    """Queue due broadcasts, step messages and (``reminders``) points-expiring reminders.

    Each part is idempotent, so any frequency and concurrent runs are safe; the outbox worker
    delivers what this queues.
    """
    now = now or timezone.now()
    report = MessageJobsReport()
    report.broadcasts = broadcasts_run_due(now=now, max_batches=max_batches)
    report.steps = step_messages_send(today=timezone.localdate(now))
    if reminders:
        report.reminders = expiry_reminders_send(today=timezone.localdate(now))
    rate_slots_purge()
    return report
