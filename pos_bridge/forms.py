"""Forms of the staff scanner (/staff/). Amounts are whole yen; what a cashier types in a
hurry (全角 digits, "1,200", "¥1200", "1200円") is accepted."""

import re
from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from audit.login_throttle import login_throttled
from pos_bridge.models import StaffMember

# A sale above this is a keying error (an extra zero or two), not a purchase.
MAX_AMOUNT_YEN = 9_999_999
_YEN_DECORATION = re.compile(r"[\s,，¥￥円]")


class YenField(forms.IntegerField):
    def to_python(self, value: Any) -> int | None:
        if isinstance(value, str):
            value = _YEN_DECORATION.sub("", value)
        return super().to_python(value)


def _yen_input(**attrs: str) -> forms.TextInput:
    return forms.TextInput(
        attrs={"inputmode": "numeric", "autocomplete": "off", "enterkeyhint": "done", **attrs}
    )


class StaffAuthenticationForm(AuthenticationForm):
    """Django's login form, for accounts that belong to a store only."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "throttled": _(
            "ログインの失敗が続いたため、しばらくログインできません。"
            "15分ほど待ってからもう一度お試しください。"
        ),
        "not_staff": _(
            "このアカウントは店舗スタッフとして登録されていません。本部に確認してください。"
        ),
    }

    def clean(self) -> dict[str, Any]:
        # The backend refuses throttled logins anyway; here the cashier learns why.
        username = self.cleaned_data.get("username") or ""
        if login_throttled(username=username, request=self.request):
            raise forms.ValidationError(self.error_messages["throttled"], code="throttled")
        return super().clean()

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        if not StaffMember.objects.filter(user_id=user.pk).exists():
            raise forms.ValidationError(self.error_messages["not_staff"], code="not_staff")


class CardLookupForm(forms.Form):
    """The scan field: a camera, a USB scanner typing into it (Enter submits) or fingers."""

    card = forms.CharField(
        label=_("会員証(QR)またはカード番号"),
        max_length=64,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "autocapitalize": "characters",
                "spellcheck": "false",
                "enterkeyhint": "go",
                "autofocus": True,
            }
        ),
    )
    # Carried through a rescan (an expired card code) so the cashier does not retype it.
    total = YenField(
        required=False, min_value=1, max_value=MAX_AMOUNT_YEN, widget=forms.HiddenInput
    )


class PurchaseForm(forms.Form):
    card = forms.CharField(max_length=64, widget=forms.HiddenInput)
    form_key = forms.CharField(max_length=64, widget=forms.HiddenInput)
    total = YenField(
        label=_("お会計金額(税込・円)"),
        min_value=1,
        max_value=MAX_AMOUNT_YEN,
        widget=_yen_input(autofocus="autofocus"),
    )
    points_to_redeem = YenField(
        label=_("利用ポイント"), min_value=0, initial=0, required=False, widget=_yen_input()
    )

    def clean_points_to_redeem(self) -> int:
        return self.cleaned_data.get("points_to_redeem") or 0

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        total, points = cleaned.get("total"), cleaned.get("points_to_redeem") or 0
        if total is not None and points > total:
            self.add_error("points_to_redeem", _("利用ポイントはお会計金額以下にしてください。"))
        return cleaned


class ReceiptSearchForm(forms.Form):
    receipt = forms.CharField(
        label=_("レシート番号"),
        max_length=64,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )


class RefundForm(forms.Form):
    receipt_number = forms.CharField(max_length=64, widget=forms.HiddenInput)
    form_key = forms.CharField(max_length=64, widget=forms.HiddenInput)
    amount = YenField(
        label=_("返品額(税込・円)"), min_value=1, max_value=MAX_AMOUNT_YEN, widget=_yen_input()
    )
