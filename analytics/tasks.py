from celery import shared_task

from analytics.services.rollups import rollup_run


@shared_task(name="analytics.rollup_stats")
def rollup_stats() -> str:
    """The dashboard roll-up (the same as ``manage.py rollup_stats``), for celery beat."""
    result = rollup_run()
    return f"rolled up {result.days} days" if result.ran else "another roll-up is running"
