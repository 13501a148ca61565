"""The claims LINE returns are checked again: a misconfigured verify endpoint cannot make us
accept another channel's token."""

import datetime

import pytest

from liff.errors import IdTokenExpired, IdTokenInvalid, LiffNotConfigured
from liff.services.id_tokens import _user_from_claims, line_user_verify
from tests.liff.conftest import LOGIN_CHANNEL_ID

NOW = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.UTC)
GOOD_CLAIMS = {
    "iss": "https://access.line.me",
    "sub": "U" + "a" * 32,
    "aud": LOGIN_CHANNEL_ID,
    "exp": int(NOW.timestamp()) + 600,
    "iat": int(NOW.timestamp()),
    "name": "花子",
}


@pytest.mark.parametrize(
    "change",
    [
        {"iss": "https://evil.example"},
        {"aud": "1999999999"},
        {"aud": None},
        {"sub": "not-a-line-user"},
        {"sub": None},
        {"exp": "soon"},
    ],
)
def test_claims_line_returned_are_checked_again(change):
    with pytest.raises(IdTokenInvalid):
        _user_from_claims({**GOOD_CLAIMS, **change}, channel_id=LOGIN_CHANNEL_ID, now=NOW)


def test_claims_past_their_exp_are_expired():
    claims = {**GOOD_CLAIMS, "exp": int(NOW.timestamp()) - 1}
    with pytest.raises(IdTokenExpired):
        _user_from_claims(claims, channel_id=LOGIN_CHANNEL_ID, now=NOW)


def test_good_claims_give_the_user():
    user = _user_from_claims(GOOD_CLAIMS, channel_id=LOGIN_CHANNEL_ID, now=NOW)
    assert user.user_id == GOOD_CLAIMS["sub"]
    assert user.display_name == "花子"


@pytest.mark.parametrize("token", ["", "not-a-token", "a.b", "x.y.z" * 1000])
def test_malformed_tokens_are_refused_without_asking_line(settings, token):
    settings.LINE_LOGIN_CHANNEL_ID = LOGIN_CHANNEL_ID
    settings.LINE_API_BASE_URL = "http://127.0.0.1:9"  # would answer line_unavailable

    with pytest.raises(IdTokenInvalid):
        line_user_verify(token)


def test_without_a_login_channel_the_card_is_not_configured(settings):
    settings.LINE_LOGIN_CHANNEL_ID = ""

    with pytest.raises(LiffNotConfigured):
        line_user_verify("a.b.c")
