"""Domain errors of segments and broadcasts; messages are Japanese, for HQ screens."""

from common.errors import ApplicationError


class BroadcastNotEditable(ApplicationError):
    code = "broadcast_not_editable"
    status = 409
    default_message = "配信が始まっているか取り消されているため、変更できません。"


class BroadcastNotCancellable(ApplicationError):
    code = "broadcast_not_cancellable"
    status = 409
    default_message = "配信予約中のものだけ取り消せます(配信が始まったものは取り消せません)。"


class BroadcastScheduleInvalid(ApplicationError):
    code = "broadcast_schedule_invalid"
    default_message = "配信日時は現在より後の日時を指定してください。"


class TestRecipientNotFound(ApplicationError):
    code = "test_recipient_not_found"
    status = 404
    default_message = (
        "連携済みでブロックしていないLINE友だちが見つかりません。会員番号またはLINEユーザーIDを"
        "確認してください。"
    )
