from celery import shared_task

from line_messaging.services.outbox import outbox_drain


@shared_task(name="line_messaging.deliver_outbox")
def deliver_outbox() -> int:
    """Deliver everything due. Safe to run many at once: rows are claimed with leases."""
    return outbox_drain().sent
