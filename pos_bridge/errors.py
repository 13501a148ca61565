from common.errors import ApplicationError


class PurchaseNotFound(ApplicationError):
    code = "purchase_not_found"
    status = 404
    default_message = "購入が見つかりません。"


class StoreNotFound(ApplicationError):
    code = "store_not_found"
    status = 404
    default_message = "店舗が見つかりません。"


class StoreInactive(ApplicationError):
    code = "store_inactive"
    status = 403
    default_message = "この店舗は現在利用できません。"


class DuplicateReceipt(ApplicationError):
    code = "duplicate_receipt"
    status = 409
    default_message = "このレシート番号はすでに登録されています。"


class RefundExceedsPurchase(ApplicationError):
    code = "refund_exceeds_purchase"
    status = 409
    default_message = "返品額が返品可能な残額を超えています。"


class PointsExceedTotal(ApplicationError):
    code = "points_exceed_total"
    status = 422
    default_message = "利用ポイントが合計金額を超えています。"


class OccurredAtInFuture(ApplicationError):
    code = "occurred_at_in_future"
    status = 422
    default_message = "日時が未来になっています。端末の時計を確認してください。"


class OccurredAtTooOld(ApplicationError):
    code = "occurred_at_too_old"
    status = 422
    default_message = "日時が古すぎます。端末の時計と入力内容を確認してください。"


class IdempotencyKeyMissing(ApplicationError):
    code = "idempotency_key_missing"
    status = 400
    default_message = "Idempotency-Key ヘッダーが必要です。"


class IdempotencyKeyInvalid(ApplicationError):
    code = "idempotency_key_invalid"
    status = 400
    default_message = "Idempotency-Key は1〜255文字の英数字と記号で指定してください。"


class IdempotencyKeyReused(ApplicationError):
    code = "idempotency_key_reused"
    status = 422
    default_message = "この Idempotency-Key は別の内容のリクエストで使用済みです。"


class IdempotencyRequestInProgress(ApplicationError):
    code = "idempotency_request_in_progress"
    status = 409
    default_message = (
        "同じ Idempotency-Key のリクエストを処理中です。少し待ってから再送してください。"
    )
