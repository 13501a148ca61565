"""What the benchmark scripts share: the app's environment, database URLs, manage.py runs.

Imported by the scripts in this folder (run as ``python bench/<script>.py``, which puts
this folder on ``sys.path``).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def app_env(
    database_url: str, *, log_level: str = "WARNING", without_celery: bool = False
) -> dict[str, str]:
    """The environment to run the app in production mode against ``database_url``, with a
    fresh random SECRET_KEY. ``without_celery`` keeps work from going to a Celery worker."""
    env = dict(os.environ)
    if without_celery:
        env.pop("CELERY_BROKER_URL", None)
    env.update(
        {
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "DATABASE_URL": database_url,
            "LOG_LEVEL": log_level,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


def database_url(server_url: str, db: str) -> str:
    """``server_url`` (postgres://user@host:port) pointed at database ``db``."""
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", "", ""))


def manage(env: dict[str, str], *args: str) -> float:
    """Run ``manage.py args`` with ``env``; return the seconds it took."""
    began = time.monotonic()
    subprocess.run([sys.executable, "manage.py", *args], cwd=PROJECT_ROOT, env=env, check=True)
    return time.monotonic() - began
