from common.errors import ApplicationError


class ReauthFailed(ApplicationError):
    code = "reauth_failed"
    status = 403
    default_message = "パスワードが正しくありません。"


class ReauthLocked(ApplicationError):
    code = "reauth_locked"
    status = 429
    default_message = (
        "パスワードの誤入力が続いたため、この操作をしばらく停止しています。"
        "15分ほど時間をおいてからお試しください。"
    )


class AdjustmentInvalid(ApplicationError):
    code = "adjustment_invalid"
    status = 422
    default_message = "ポイント調整の内容が正しくありません。"


class AdjustmentExceedsBalance(ApplicationError):
    code = "adjustment_exceeds_balance"
    status = 409
    default_message = "残高を超えてポイントを減らすことはできません。"


class FormAlreadySubmitted(ApplicationError):
    code = "form_already_submitted"
    status = 409
    default_message = "このフォームはすでに送信済みです。画面を開き直してください。"
