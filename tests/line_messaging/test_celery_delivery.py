"""The outbox delivered by a Celery worker with a real Redis broker (CI has Redis)."""

import os
import socket
import time

import pytest

from line_sandbox import selectors as sandbox_selectors
from line_sandbox import services as sandbox

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


def _redis_reachable() -> bool:
    host_port = REDIS_URL.split("//", 1)[1].split("/", 1)[0]
    host, _, port = host_port.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port or 6379)), timeout=1):
            return True
    except OSError:
        return False


# Three threads write at once here (test, live server, Celery worker): SQLite's shared-cache
# test database answers that with "table is locked", so this runs on PostgreSQL (CI does).
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not _redis_reachable(), reason=f"needs Redis at {REDIS_URL} (CI has it)"),
]


def test_a_celery_worker_delivers_the_outbox_as_soon_as_the_change_commits(
    line, deployed, settings
):
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    settings.CELERY_BROKER_URL = REDIS_URL
    app.conf.broker_url = REDIS_URL
    app.conf.task_default_queue = f"outbox-test-{os.getpid()}"
    user = sandbox.user_create("花子")

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        sandbox.user_follow(user)  # the webhook commits an outbox row and kicks Celery
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not sandbox_selectors.messages_received(user):
            time.sleep(0.2)

    received = sandbox_selectors.messages_received(user)
    assert any("友だち追加ありがとうございます" in m.get("text", "") for m in received)
