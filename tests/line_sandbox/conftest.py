"""The sandbox served by pytest-django's live server, the real line-bot-sdk pointed at it,
and a tiny webhook receiver standing in for our bot's webhook endpoint."""

import gc
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from django.test import Client
from linebot.v3.messaging import ApiClient, Configuration, MessagingApi, MessagingApiBlob
from PIL import Image

CHANNEL_SECRET = "test-channel-secret-0123456789"
ACCESS_TOKEN = "test-channel-access-token"
LOGIN_CHANNEL_ID = "1234567890"
LIFF_ID = "1234567890-AbCdEfGh"


@dataclass
class ReceivedWebhook:
    body: bytes
    signature: str
    user_agent: str

    @property
    def text(self) -> str:
        return self.body.decode()

    @property
    def event(self) -> dict[str, Any]:
        events = json.loads(self.body)["events"]
        assert len(events) == 1
        return events[0]


@dataclass
class WebhookReceiver:
    url: str = ""
    received: list[ReceivedWebhook] = field(default_factory=list)
    answer_status: int = 200

    @property
    def last(self) -> ReceivedWebhook:
        return self.received[-1]


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            receiver.received.append(
                ReceivedWebhook(
                    body=self.rfile.read(length),
                    signature=self.headers.get("X-Line-Signature", ""),
                    user_agent=self.headers.get("User-Agent", ""),
                )
            )
            self.send_response(receiver.answer_status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/line/webhook"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()


@dataclass
class Sandbox:
    url: str
    api_url: str
    api_data_url: str
    access_url: str
    receiver: WebhookReceiver
    clients: list[ApiClient] = field(default_factory=list)

    def sdk_client(self, host: str, token: str = ACCESS_TOKEN) -> ApiClient:
        client = ApiClient(Configuration(host=host, access_token=token))
        self.clients.append(client)
        return client

    def messaging_api(self, *, token: str = ACCESS_TOKEN) -> MessagingApi:
        return MessagingApi(self.sdk_client(self.api_url, token))

    def blob_api(self) -> MessagingApiBlob:
        # A Configuration of its own: the SDK sends every call to its configuration's host.
        return MessagingApiBlob(self.sdk_client(self.api_data_url))

    def close(self) -> None:
        # An open SDK connection keeps a live-server thread, and its database connection,
        # alive after the test: PostgreSQL then refuses to drop the test database. The SDK
        # keeps its last response (and that response's connection) in ``last_response``.
        for client in self.clients:
            last = getattr(client, "last_response", None)
            if last is not None:
                last.urllib3_response.release_conn()
            client.rest_client.pool_manager.clear()
        self.clients.clear()
        gc.collect()

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {ACCESS_TOKEN}", **kwargs.pop("headers", {})}
        return httpx.request(method, f"{self.api_url}{path}", headers=headers, **kwargs)

    def control(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, f"{self.url}/line-sandbox/control/{path}", **kwargs)


def sandbox_settings_apply(settings, site_url: str, webhook_url: str) -> None:
    base = f"{site_url}/line-sandbox"
    settings.ROOT_URLCONF = "tests.line_sandbox.urls"
    settings.LINE_SANDBOX = True
    settings.SITE_URL = site_url
    settings.LINE_API_BASE_URL = f"{base}/api"
    settings.LINE_API_DATA_BASE_URL = f"{base}/api-data"
    settings.LINE_ACCESS_BASE_URL = f"{base}/access"
    settings.LINE_CHANNEL_SECRET = CHANNEL_SECRET
    settings.LINE_CHANNEL_ACCESS_TOKEN = ACCESS_TOKEN
    settings.LINE_LOGIN_CHANNEL_ID = LOGIN_CHANNEL_ID
    settings.LIFF_ID = LIFF_ID
    settings.LINE_SANDBOX_WEBHOOK_URL = webhook_url


@pytest.fixture
def sandbox(live_server, settings, transactional_db, webhook_receiver) -> Iterator[Sandbox]:
    """The sandbox on a real HTTP server, for the SDK and for webhooks."""
    base = f"{live_server.url}/line-sandbox"
    sandbox_settings_apply(settings, live_server.url, webhook_receiver.url)
    sandbox = Sandbox(
        url=live_server.url,
        api_url=f"{base}/api",
        api_data_url=f"{base}/api-data",
        access_url=f"{base}/access",
        receiver=webhook_receiver,
    )
    yield sandbox
    sandbox.close()


class LineClient:
    """The sandbox APIs through Django's test client: for request-shape checks that need
    neither the SDK nor webhooks, without a live server's per-test database flush."""

    def __init__(self) -> None:
        self.client = Client()

    def api(self, method: str, path: str, *, host: str = "api", **kwargs: Any):
        headers = {"Authorization": f"Bearer {ACCESS_TOKEN}", **kwargs.pop("headers", {})}
        if "json" in kwargs:
            kwargs["data"] = json.dumps(kwargs.pop("json"))
            kwargs["content_type"] = "application/json"
        return self.client.generic(method, f"/line-sandbox/{host}{path}", headers=headers, **kwargs)

    def post_form(self, path: str, data: dict[str, str]):
        return self.client.post(f"/line-sandbox/api{path}", data=data)


@pytest.fixture
def line_client(settings, db, webhook_receiver) -> LineClient:
    sandbox_settings_apply(settings, "http://testserver", webhook_receiver.url)
    return LineClient()


@pytest.fixture
def friend_row(line_client):
    """A friend of the account, made without a webhook (for ``line_client`` tests)."""
    from line_sandbox.models import FriendStatus, SandboxUser

    return SandboxUser.objects.create(
        user_id="U" + "1" * 32, display_name="山田 花子", friend_status=FriendStatus.FRIEND
    )


@pytest.fixture
def friend(sandbox):
    """A LINE user who has added the account."""
    from line_sandbox import services

    user = services.user_create("山田 花子")
    services.user_follow(user)
    return services.user_get(user)


def image_bytes(width: int, height: int, *, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (6, 199, 85)).save(buffer, format=fmt)
    return buffer.getvalue()
