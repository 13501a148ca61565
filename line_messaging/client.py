"""The LINE Messaging API clients (line-bot-sdk v3), configured from settings.

The SDK sends every call to its Configuration's host, blob calls (rich menu images) included,
so the data API (api-data.line.me) gets a configuration of its own. With LINE_SANDBOX=1 both
hosts point at the built-in sandbox; nothing else changes.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from linebot.v3.messaging import ApiClient, Configuration, MessagingApi, MessagingApiBlob

# (connect, read) seconds: a slow LINE must not stall the worker forever.
REQUEST_TIMEOUT = (5, 15)


def _configuration(host: str) -> Configuration:
    return Configuration(host=host, access_token=settings.LINE_CHANNEL_ACCESS_TOKEN)


@contextmanager
def messaging_api() -> Iterator[MessagingApi]:
    with ApiClient(_configuration(settings.LINE_API_BASE_URL)) as client:
        yield MessagingApi(client)


@contextmanager
def messaging_blob_api() -> Iterator[MessagingApiBlob]:
    with ApiClient(_configuration(settings.LINE_API_DATA_BASE_URL)) as client:
        yield MessagingApiBlob(client)
