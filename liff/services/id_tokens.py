"""Who is this LIFF user? Verify the page's LINE ID token with LINE, never trust the page.

The page sends only ``liff.getIDToken()``; LINE's ``POST /oauth2/v2.1/verify`` checks the
signature, the audience (our LINE Login channel) and the expiry and returns the claims
(https://developers.line.biz/en/reference/line-login/#verify-id-token). The claims are
checked again here, so a misconfigured verify endpoint cannot make us accept another
channel's token. A verified token is cached (by its SHA-256) until its ``exp``, so a page
that makes several calls with one token costs LINE one verification per server process.
"""

import datetime
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from liff.errors import IdTokenExpired, IdTokenInvalid, LiffNotConfigured, LineUnavailable

logger = logging.getLogger(__name__)

ID_TOKEN_ISSUER = "https://access.line.me"
# A page waits on this: give up quickly and let the shopper retry.
VERIFY_TIMEOUT = httpx.Timeout(5.0, connect=3.0)
_CACHE_PREFIX = "liff:id_token:"
# LINE's error_description for an expired token, in its 400 answer.
_EXPIRED_DESCRIPTION = "IdToken expired."
# ID tokens are three base64url parts of a few hundred bytes; refuse absurd input unsent.
_MAX_TOKEN_LENGTH = 4096


@dataclass(frozen=True)
class VerifiedLineUser:
    user_id: str
    display_name: str
    expires_at: datetime.datetime


def _cache_key(id_token: str) -> str:
    return _CACHE_PREFIX + hashlib.sha256(id_token.encode()).hexdigest()


def line_user_verify(id_token: str) -> VerifiedLineUser:
    """The LINE user the ID token was issued to, verified by LINE (or from the cache).

    Raises ``IdTokenExpired`` (401, the page logs in again), ``IdTokenInvalid`` (401),
    ``LineUnavailable`` (503) when LINE cannot be reached or answers 5xx, and
    ``LiffNotConfigured`` (503) without ``LINE_LOGIN_CHANNEL_ID``.
    """
    channel_id = settings.LINE_LOGIN_CHANNEL_ID
    if not channel_id:
        raise LiffNotConfigured()
    if not id_token or len(id_token) > _MAX_TOKEN_LENGTH or id_token.count(".") != 2:
        raise IdTokenInvalid()
    now = timezone.now()
    key = _cache_key(id_token)
    cached = cache.get(key)
    if cached is not None:
        user = VerifiedLineUser(**cached)
        if user.expires_at <= now:
            raise IdTokenExpired()
        return user
    claims = _verify_with_line(id_token, channel_id)
    user = _user_from_claims(claims, channel_id=channel_id, now=now)
    timeout = int((user.expires_at - now).total_seconds())
    if timeout > 0:
        cache.set(
            key,
            {
                "user_id": user.user_id,
                "display_name": user.display_name,
                "expires_at": user.expires_at,
            },
            timeout=timeout,
        )
    return user


def _verify_with_line(id_token: str, channel_id: str) -> dict[str, Any]:
    url = f"{settings.LINE_API_BASE_URL}/oauth2/v2.1/verify"
    try:
        # A client per call: its connection is closed on return, so no pooled socket keeps
        # a (test) server thread and its database connection alive.
        with httpx.Client(timeout=VERIFY_TIMEOUT) as client:
            response = client.post(url, data={"id_token": id_token, "client_id": channel_id})
    except httpx.HTTPError as exc:
        logger.warning("LINE ID token verification failed: %s", exc)
        raise LineUnavailable() from exc
    if response.status_code >= 500 or response.status_code == 429:
        logger.warning("LINE ID token verification answered %s", response.status_code)
        raise LineUnavailable()
    try:
        body = response.json()
    except ValueError as exc:
        raise LineUnavailable() from exc
    if response.status_code != 200 or not isinstance(body, dict):
        description = body.get("error_description", "") if isinstance(body, dict) else ""
        if description == _EXPIRED_DESCRIPTION:
            raise IdTokenExpired()
        raise IdTokenInvalid(reason=description or f"HTTP {response.status_code}")
    return body


def _user_from_claims(
    claims: dict[str, Any], *, channel_id: str, now: datetime.datetime
) -> VerifiedLineUser:
    if claims.get("iss") != ID_TOKEN_ISSUER:
        raise IdTokenInvalid(reason="issuer")
    # ``aud`` is the channel ID; OpenID Connect allows a list of audiences.
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if channel_id not in audiences:
        raise IdTokenInvalid(reason="audience")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject.startswith("U") or len(subject) != 33:
        raise IdTokenInvalid(reason="subject")
    exp = claims.get("exp")
    if not isinstance(exp, int | float):
        raise IdTokenInvalid(reason="exp")
    expires_at = datetime.datetime.fromtimestamp(exp, tz=datetime.UTC)
    if expires_at <= now:
        raise IdTokenExpired()
    name = claims.get("name")
    return VerifiedLineUser(
        user_id=subject,
        display_name=name if isinstance(name, str) else "",
        expires_at=expires_at,
    )
