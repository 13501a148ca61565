from celery import shared_task

from broadcasts.services.jobs import message_jobs_run


@shared_task(name="broadcasts.run_message_jobs")
def run_message_jobs() -> str:
    """The periodic messaging job (schedule it with celery beat, e.g. every minute)."""
    return message_jobs_run().summary()
