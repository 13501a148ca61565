"""Errors of the LIFF card API. Every one becomes ``{"code", "message", "extra"}``."""

from common.errors import ApplicationError


class IdTokenInvalid(ApplicationError):
    code = "id_token_invalid"
    status = 401
    default_message = "LINEの認証情報を確認できませんでした。LINEから開き直してください。"


class IdTokenExpired(ApplicationError):
    """The page must get a new ID token (log in again) and retry."""

    code = "id_token_expired"
    status = 401
    default_message = "LINEの認証の有効期限が切れました。"


class LineUnavailable(ApplicationError):
    code = "line_unavailable"
    status = 503
    default_message = "LINEに接続できません。しばらくしてからもう一度お試しください。"


class LiffNotConfigured(ApplicationError):
    code = "liff_not_configured"
    status = 503
    default_message = "会員証はただいま準備中です。"


class NotLinked(ApplicationError):
    code = "not_linked"
    status = 409
    default_message = "このLINEアカウントは会員カードと連携されていません。"
