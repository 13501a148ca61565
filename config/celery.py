"""Celery app, used only when CELERY_BROKER_URL is set (e.g. redis://127.0.0.1:6379/0).

Run a worker with: celery -A config worker -l info
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("membership")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
