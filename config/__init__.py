# Load the Celery app with Django so shared tasks use our broker settings.
from config.celery import app as celery_app

__all__ = ("celery_app",)
