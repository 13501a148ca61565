from typing import Any

from common.errors import ApplicationError


class CardNumberInvalid(ApplicationError):
    code = "card_number_invalid"
    status = 422
    default_message = "会員番号は4〜20桁の数字で入力してください。"


class MemberDataInvalid(ApplicationError):
    code = "member_data_invalid"
    status = 422
    default_message = "会員情報に誤りがあります。"


class CardNotFound(ApplicationError):
    code = "card_not_found"
    status = 404
    default_message = "会員カードが見つかりません。"


class MemberInactive(ApplicationError):
    code = "member_inactive"
    status = 409
    default_message = "この会員は退会済みです。"


class CardCodeExpired(ApplicationError):
    code = "card_code_expired"
    status = 409
    default_message = "会員証コードの有効期限が切れています。アプリの会員証を開き直してください。"


class CardCodeUsed(ApplicationError):
    code = "card_code_used"
    status = 409
    default_message = "この会員証コードは使用済みです。アプリの会員証を開き直してください。"


class CardCodeRequired(ApplicationError):
    code = "card_code_required"
    status = 403
    default_message = "ポイントの利用にはアプリの会員証コードの読み取りが必要です。"


class PointsInsufficient(ApplicationError):
    code = "points_insufficient"
    status = 409
    default_message = "ポイント残高が不足しています。"

    def __init__(self, *, balance: int, requested: int, **extra: Any) -> None:
        super().__init__(None, balance=balance, requested=requested, **extra)


class PointsAmountInvalid(ApplicationError):
    code = "points_amount_invalid"
    status = 422
    default_message = "ポイント数が正しくありません。"


class MemberImportFileInvalid(ApplicationError):
    code = "member_import_file_invalid"
    status = 422
    default_message = "CSVファイルを読み取れません。"


class MemberImportEncodingInvalid(MemberImportFileInvalid):
    code = "member_import_encoding_invalid"
    default_message = (
        "ファイルがUTF-8ではありません(Shift_JISなど)。"
        "Excelの場合は「CSV UTF-8 (コンマ区切り)」形式で保存し直してください。"
    )


class MemberImportHeaderInvalid(MemberImportFileInvalid):
    code = "member_import_header_invalid"
    default_message = "CSVの1行目(ヘッダー)に誤りがあります。"
