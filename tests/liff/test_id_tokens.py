"""ID tokens are verified with LINE (the sandbox here), cached until they expire, never trusted
on the page's word."""

import datetime
import time

import pytest
import time_machine
from django.utils import timezone

from liff.errors import IdTokenExpired, IdTokenInvalid, LineUnavailable
from liff.services.id_tokens import line_user_verify
from line_sandbox import services as sandbox
from line_sandbox.selectors import api_calls

pytestmark = pytest.mark.django_db(transaction=True)
VERIFY_PATH = "/oauth2/v2.1/verify"


def test_valid_token_gives_the_line_user_and_is_verified_once(line_user):
    user_id = line_user("LINE 花子")
    token = sandbox.id_token_issue(user_id)

    first = line_user_verify(token)
    second = line_user_verify(token)

    assert first == second
    assert first.user_id == user_id
    assert first.display_name == "LINE 花子"
    assert first.expires_at > timezone.now() + datetime.timedelta(minutes=59)
    assert api_calls(path=VERIFY_PATH).count() == 1


def test_expired_token_is_refused_as_expired(line_user):
    token = sandbox.id_token_issue(line_user(), expires_in=60)

    with time_machine.travel(time.time() + 61), pytest.raises(IdTokenExpired):
        line_user_verify(token)


def test_token_is_cached_until_its_exp_and_no_longer(line_user):
    token = sandbox.id_token_issue(line_user(), expires_in=60)
    line_user_verify(token)

    with time_machine.travel(time.time() + 55):
        line_user_verify(token)
    assert api_calls(path=VERIFY_PATH).count() == 1
    with time_machine.travel(time.time() + 61), pytest.raises(IdTokenExpired):
        line_user_verify(token)


def test_token_for_another_channel_is_invalid(line_user, settings):
    token = sandbox.id_token_issue(line_user())
    settings.LINE_LOGIN_CHANNEL_ID = "1999999999"

    with pytest.raises(IdTokenInvalid) as raised:
        line_user_verify(token)
    assert raised.value.status == 401


def test_token_line_does_not_know_is_invalid(liff_line):
    with pytest.raises(IdTokenInvalid):
        line_user_verify("a.b.c")


def test_tampered_token_is_invalid(line_user):
    header, _payload, signature = sandbox.id_token_issue(line_user()).split(".")
    other = sandbox.id_token_issue(line_user()).split(".")[1]

    with pytest.raises(IdTokenInvalid):
        line_user_verify(f"{header}.{other}.{signature}")


def test_line_answering_500_is_unavailable_and_nothing_is_cached(line_user):
    token = sandbox.id_token_issue(line_user())
    sandbox.fault_set(status=500, count=1, path_prefix=VERIFY_PATH)

    with pytest.raises(LineUnavailable) as raised:
        line_user_verify(token)
    assert raised.value.status == 503
    assert line_user_verify(token).user_id  # LINE is back: verified now


def test_line_unreachable_is_unavailable(liff_line, settings):
    settings.LINE_API_BASE_URL = "http://127.0.0.1:9"  # discard port: connection refused

    with pytest.raises(LineUnavailable):
        line_user_verify("a.b.c")
