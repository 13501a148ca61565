import datetime

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from membership.models import PREFECTURE_CHOICES, Gender


def _birth_date_field() -> forms.DateField:
    return forms.DateField(
        label=_("生年月日"),
        input_formats=["%Y-%m-%d", "%Y/%m/%d"],
        widget=forms.DateInput(attrs={"type": "date", "autocomplete": "bday"}),
    )


class ExistingMemberForm(forms.Form):
    card_number = forms.CharField(
        label=_("会員番号"),
        max_length=32,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    birth_date = _birth_date_field()


class RegistrationForm(forms.Form):
    name = forms.CharField(label=_("お名前"), max_length=128)
    name_kana = forms.CharField(label=_("お名前(カナ)"), max_length=128, required=False)
    birth_date = _birth_date_field()
    gender = forms.ChoiceField(label=_("性別"), choices=Gender.choices, required=False)
    prefecture = forms.ChoiceField(
        label=_("お住まいの都道府県"), choices=[("", "---"), *PREFECTURE_CHOICES], required=False
    )
    agree = forms.BooleanField(label=_("会員規約と個人情報の取り扱いに同意します"))

    def clean_birth_date(self) -> datetime.date:
        value = self.cleaned_data["birth_date"]
        if value > timezone.localdate() or value.year < 1900:
            raise forms.ValidationError(_("生年月日を正しく入力してください。"))
        return value
