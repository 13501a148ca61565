"""A real worker process killed with SIGKILL while LINE is handling its push."""

import datetime
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from line_messaging.models import OutboxMessage
from line_messaging.services import outbox
from line_messaging.services.outbox import outbox_drain, outbox_message
from line_sandbox import selectors as sandbox_selectors
from line_sandbox import services as sandbox

# The worker runs as a separate process against the test database, which only a server
# database can share: PostgreSQL (CI always runs this).
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_worker_killed_while_line_handles_its_push_neither_loses_nor_duplicates(
    line, deployed, settings
):
    user = sandbox.user_create("花子")
    sandbox.user_follow(user)
    outbox_drain()
    outbox_message(
        line_user_id=user.user_id,
        messages=[{"type": "text", "text": "一度だけ届くお知らせ"}],
        purpose="receipt",
    )
    row = OutboxMessage.objects.get(purpose="receipt")
    # LINE takes 2 s to answer this push: long enough to kill the worker mid-call.
    sandbox.fault_set(status=None, latency_ms=2000, count=1, path_prefix="/v2/bot/message/push")
    env = {
        **os.environ,
        "DEBUG": "1",
        "DATABASE_URL": _database_url(),
        "LINE_API_BASE_URL": settings.LINE_API_BASE_URL,
        "LINE_API_DATA_BASE_URL": settings.LINE_API_DATA_BASE_URL,
        "LINE_CHANNEL_ACCESS_TOKEN": settings.LINE_CHANNEL_ACCESS_TOKEN,
        "LINE_CHANNEL_SECRET": settings.LINE_CHANNEL_SECRET,
    }
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "deliver_messages", "--interval", "0.1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        claimed = _wait_for(
            lambda: OutboxMessage.objects.filter(pk=row.pk, attempts=1).exists(), seconds=30
        )
        assert claimed, "the worker never claimed the row"
        time.sleep(0.5)  # the push is now waiting inside LINE
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)

    row.refresh_from_db()
    assert row.state == "pending" and row.locked_until is not None  # outcome unknown
    # LINE finishes handling the request although its caller is gone.
    assert _wait_for(lambda: "一度だけ届くお知らせ" in _texts(user), seconds=10)

    with time_machine.travel(timezone.now() + outbox.LEASE + datetime.timedelta(seconds=1)):
        report = outbox_drain()

    assert report.sent == 1
    assert _texts(user).count("一度だけ届くお知らせ") == 1
    row.refresh_from_db()
    assert row.state == "sent" and row.attempts == 2


def _texts(user) -> list[str]:
    return [m.get("text", "") for m in sandbox_selectors.messages_received(user)]
