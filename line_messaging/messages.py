"""The LINE messages we send, as Messaging API message objects (plain dicts).

Shopper-facing text is Japanese. Postback ``data`` values are the contract with the
webhook handler (``line_messaging.services.webhook``): ``action=<name>``.
"""

from typing import Any

from django.conf import settings

from membership.models import Member
from membership.selectors import points_expiring

Message = dict[str, Any]

POSTBACK_LINK_START = "action=link_start"
POSTBACK_POINTS = "action=points"
POSTBACK_UNLINK_CONFIRM = "action=unlink_confirm"
POSTBACK_UNLINK = "action=unlink"
POSTBACK_UNLINK_CANCEL = "action=unlink_cancel"


def liff_card_url() -> str:
    return (
        f"https://liff.line.me/{settings.LIFF_ID}"
        if settings.LIFF_ID
        else f"{settings.SITE_URL}/liff/"
    )


def text(body: str) -> Message:
    return {"type": "text", "text": body}


def link_prompt() -> Message:
    return {
        "type": "template",
        "altText": "会員連携のご案内",
        "template": {
            "type": "buttons",
            "title": "会員連携",
            "text": "会員カードとLINEを連携すると、LINEで会員証とポイントを確認できます。",
            "actions": [
                {
                    "type": "postback",
                    "label": "会員連携する",
                    "data": POSTBACK_LINK_START,
                    "displayText": "会員連携",
                },
            ],
        },
    }


def welcome_unlinked() -> list[Message]:
    return [
        text(
            "友だち追加ありがとうございます!\n"
            "会員カードとLINEを連携すると、会員証の表示・ポイント確認・お得なお知らせが"
            f"LINEで受け取れます。連携で{settings.LINE_LINK_BONUS_POINTS}ポイントプレゼント。"
        ),
        link_prompt(),
    ]


def welcome_back_linked(member: Member) -> list[Message]:
    return [
        text(f"おかえりなさい、{member.display_name}様。会員証はメニューの「会員証」からどうぞ。")
    ]


def link_url_messages(link_url: str) -> list[Message]:
    return [
        {
            "type": "template",
            "altText": "会員連携はこちらから",
            "template": {
                "type": "buttons",
                "title": "会員連携",
                "text": (
                    "下のボタンから会員番号と生年月日を入力するか、"
                    "新規会員登録をしてください。(10分間有効)"
                ),
                "actions": [{"type": "uri", "label": "連携をはじめる", "uri": link_url}],
            },
        }
    ]


def linked_welcome(member: Member, *, bonus_awarded: int) -> list[Message]:
    lines = [f"{member.display_name}様、会員連携が完了しました。"]
    if bonus_awarded:
        lines.append(f"連携特典として{bonus_awarded}ポイントを付与しました。")
    lines.append(f"現在のポイント: {member.points_balance}ポイント")
    lines.append("お会計の際はメニューの「会員証」を開いてQRコードをご提示ください。")
    return [text("\n".join(lines))]


def link_refused_card_taken() -> list[Message]:
    return [
        text(
            "この会員カードはすでに別のLINEアカウントと連携されています。お心当たりがない場合は店舗スタッフにお問い合わせください。"
        )
    ]


def link_refused_already_linked() -> list[Message]:
    return [
        text(
            "このLINEアカウントはすでに別の会員カードと連携されています。連携を解除してからお試しください。"
        )
    ]


def link_failed() -> list[Message]:
    return [
        text(
            "会員連携ができませんでした。お手数ですが、もう一度メニューの「会員連携」からお試しください。"
        )
    ]


def points_summary(member: Member) -> list[Message]:
    lines = [f"{member.display_name}様のポイント残高は {member.points_balance:,}ポイント です。"]
    if member.tier_id and member.tier:
        lines.append(f"会員ランク: {member.tier.name}")
    for expiring in points_expiring(member=member, within_days=60)[:3]:
        lines.append(
            f"{expiring.expires_on:%Y年%m月%d日}に{expiring.points:,}ポイントが失効予定です。"
        )
    return [text("\n".join(lines))]


def card_link() -> list[Message]:
    return [
        {
            "type": "template",
            "altText": "会員証を開く",
            "template": {
                "type": "buttons",
                "text": "お会計の際は会員証のQRコードをご提示ください。",
                "actions": [{"type": "uri", "label": "会員証を開く", "uri": liff_card_url()}],
            },
        }
    ]


def unlink_confirm() -> list[Message]:
    return [
        {
            "type": "template",
            "altText": "連携解除の確認",
            "template": {
                "type": "confirm",
                "text": "会員連携を解除しますか?ポイントと購入履歴はそのまま残ります。",
                "actions": [
                    {
                        "type": "postback",
                        "label": "解除する",
                        "data": POSTBACK_UNLINK,
                        "displayText": "解除する",
                    },
                    {
                        "type": "postback",
                        "label": "やめる",
                        "data": POSTBACK_UNLINK_CANCEL,
                        "displayText": "やめる",
                    },
                ],
            },
        }
    ]


def unlinked_done() -> list[Message]:
    return [
        text(
            "会員連携を解除しました。ポイントと購入履歴はそのまま残っています。またいつでも連携できます。"
        )
    ]


def withdrawal_done() -> list[Message]:
    return [
        text(
            "退会手続きが完了し、会員連携を解除しました。これまでのご利用ありがとうございました。"
            "またのご入会をお待ちしております。"
        )
    ]


def unlink_cancelled() -> list[Message]:
    return [text("連携解除を取りやめました。")]


def help_message(*, linked: bool) -> list[Message]:
    if linked:
        body = (
            "ご利用方法\n"
            "・「会員証」: お会計時にQRコードを提示\n"
            "・「ポイント」と送信: 残高と失効予定を確認\n"
            "・「連携解除」: 会員連携の解除"
        )
    else:
        body = "ご利用方法\n・「会員連携」: 会員カードとLINEを連携\n・「ヘルプ」: この案内を表示"
    return [text(body)]


def not_linked_yet() -> list[Message]:
    return [text("まだ会員連携がお済みではありません。"), link_prompt()]


def contact_info() -> list[Message]:
    return [
        text("お問い合わせは、このトークにメッセージをお送りください。スタッフが順次お返事します。")
    ]


def store_info() -> list[Message]:
    return [text("店舗情報: 営業時間 10:00〜20:00(店舗により異なります)。")]
