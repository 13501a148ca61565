"""Forms of the HQ member page. Every one re-asks the password; the views check it."""

import uuid

from django import forms

from hq.services.member_actions import ADJUST_POINTS_MAX
from membership.services.withdrawal import WITHDRAWAL_REASON_MAX


class AdjustmentForm(forms.Form):
    points = forms.IntegerField(
        label="調整ポイント(減らす場合はマイナス)",
        min_value=-ADJUST_POINTS_MAX,
        max_value=ADJUST_POINTS_MAX,
        error_messages={
            "required": "調整ポイントを入力してください。",
            "invalid": "調整ポイントは整数で入力してください。",
        },
    )
    reason = forms.CharField(
        label="理由", max_length=255, error_messages={"required": "理由を入力してください。"}
    )
    password = forms.CharField(
        label="あなたのパスワード(確認のため再入力)",
        widget=forms.PasswordInput,
        strip=False,
        error_messages={"required": "パスワードを入力してください。"},
    )
    # One key per rendered form: the ledger's idempotency key, so a double submit adjusts once.
    form_key = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4)

    def clean_points(self) -> int:
        points: int = self.cleaned_data["points"]
        if points == 0:
            raise forms.ValidationError("0以外のポイント数を入力してください。")
        return points


class WithdrawalForm(forms.Form):
    confirm_card_number = forms.CharField(
        label="確認のため会員番号を入力",
        max_length=20,
        error_messages={"required": "確認のため会員番号を入力してください。"},
    )
    reason = forms.CharField(
        label="退会理由",
        max_length=WITHDRAWAL_REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "退会理由を入力してください。"},
    )
    password = forms.CharField(
        label="あなたのパスワード(確認のため再入力)",
        widget=forms.PasswordInput,
        strip=False,
        error_messages={"required": "パスワードを入力してください。"},
    )

    def __init__(self, *args, card_number: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.card_number = card_number

    def clean_confirm_card_number(self) -> str:
        typed: str = self.cleaned_data["confirm_card_number"].strip()
        if typed != self.card_number:
            raise forms.ValidationError("会員番号が一致しません。")
        return typed
