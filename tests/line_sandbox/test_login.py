"""ID tokens issued by the sandbox and ``POST /oauth2/v2.1/verify`` with LINE's answers."""

import time

import httpx
import pytest
import time_machine

from line_sandbox import services
from tests.line_sandbox.conftest import LOGIN_CHANNEL_ID


def verify(
    sandbox, id_token: str, client_id: str = LOGIN_CHANNEL_ID, **extra: str
) -> httpx.Response:
    return httpx.post(
        f"{sandbox.api_url}/oauth2/v2.1/verify",
        data={"id_token": id_token, "client_id": client_id, **extra},
    )


def test_valid_token_answers_lines_claims(sandbox, friend):
    id_token = services.id_token_issue(friend.user_id, nonce="n-0123456789")

    response = verify(sandbox, id_token, nonce="n-0123456789")

    claims = response.json()
    assert response.status_code == 200
    assert id_token.count(".") == 2
    assert claims["iss"] == "https://access.line.me"
    assert claims["sub"] == friend.user_id
    assert claims["aud"] == LOGIN_CHANNEL_ID
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["nonce"] == "n-0123456789"
    assert claims["name"] == "山田 花子"
    assert claims["picture"].startswith("http")
    assert claims["amr"]


def test_expired_token(line_client, friend_row):
    id_token = services.id_token_issue(friend_row.user_id, expires_in=60)

    with time_machine.travel(time.time() + 61):
        response = form_verify(line_client, id_token)

    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "error_description": "IdToken expired."}


def form_verify(line_client, id_token: str, client_id: str = LOGIN_CHANNEL_ID, **extra: str):
    return line_client.post_form(
        "/oauth2/v2.1/verify", {"id_token": id_token, "client_id": client_id, **extra}
    )


def test_wrong_audience(line_client, friend_row):
    response = form_verify(
        line_client, services.id_token_issue(friend_row.user_id), client_id="999"
    )

    assert response.status_code == 400
    assert response.json()["error_description"] == "Invalid IdToken Audience."


@pytest.mark.parametrize("mangle", [lambda t: t[:-2] + "xx", lambda t: "abc", lambda t: ""])
def test_tampered_or_unknown_tokens_are_invalid(line_client, friend_row, mangle):
    response = form_verify(line_client, mangle(services.id_token_issue(friend_row.user_id)))

    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "error_description": "Invalid IdToken."}


def test_nonce_and_user_id_must_match_when_given(line_client, friend_row):
    id_token = services.id_token_issue(friend_row.user_id, nonce="expected-nonce")

    wrong_nonce = form_verify(line_client, id_token, nonce="other-nonce")
    wrong_user = form_verify(line_client, id_token, user_id="U" + "0" * 32)

    assert wrong_nonce.json()["error_description"] == "Invalid IdToken Nonce."
    assert wrong_user.json()["error_description"] == "Invalid IdToken Subject Identifier."
