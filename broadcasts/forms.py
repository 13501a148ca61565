"""HQ forms for segments, broadcasts and messages. Errors are Japanese, for the screen."""

from typing import Any

from django import forms

from broadcasts.models import Broadcast, BroadcastKind, Segment, StepMessage
from broadcasts.selectors import SCALAR_CRITERIA, SegmentCriteria
from line_messaging.models import Trigger
from line_messaging.services.triggers import (
    PLACEHOLDERS,
    STEP_MESSAGE,
    TemplateInvalid,
    template_check,
)
from membership.models import PREFECTURE_CHOICES, Gender, Tier
from pos_bridge.models import Store

GENDER_CHOICES = [(value or "unknown", label) for value, label in Gender.choices]
CHECKBOXES = forms.CheckboxSelectMultiple


def _date() -> forms.DateField:
    return forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))


def _number(*, min_value: int = 0, max_value: int | None = None) -> forms.IntegerField:
    return forms.IntegerField(required=False, min_value=min_value, max_value=max_value)


class SegmentForm(forms.Form):
    name = forms.CharField(label="セグメント名", max_length=100)
    description = forms.CharField(
        label="メモ", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    tiers = forms.ModelMultipleChoiceField(
        label="会員ランク", queryset=Tier.objects.all(), required=False, widget=CHECKBOXES
    )
    genders = forms.MultipleChoiceField(
        label="性別", choices=GENDER_CHOICES, required=False, widget=CHECKBOXES
    )
    age_min = _number(max_value=130)
    age_max = _number(max_value=130)
    prefectures = forms.MultipleChoiceField(
        label="都道府県",
        choices=PREFECTURE_CHOICES,
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )
    joined_from = _date()
    joined_to = _date()
    linked_from = _date()
    linked_to = _date()
    last_purchase_from = _date()
    last_purchase_to = _date()
    window_days = _number(min_value=1, max_value=3650)
    purchase_count_min = _number()
    purchase_count_max = _number()
    spend_min = _number()
    spend_max = _number()
    stores = forms.ModelMultipleChoiceField(
        label="来店店舗", queryset=Store.objects.all(), required=False, widget=CHECKBOXES
    )
    categories = forms.CharField(
        label="購入カテゴリ",
        required=False,
        help_text="カンマ区切り(例: cosmetics, skincare)",
    )
    balance_min = _number()
    balance_max = _number()
    expiring_within_days = _number(min_value=1, max_value=3650)

    RANGES = (
        ("age_min", "age_max", "年齢"),
        ("joined_from", "joined_to", "入会日"),
        ("linked_from", "linked_to", "連携日"),
        ("last_purchase_from", "last_purchase_to", "最終購入日"),
        ("purchase_count_min", "purchase_count_max", "購入回数"),
        ("spend_min", "spend_max", "購入金額"),
        ("balance_min", "balance_max", "ポイント残高"),
    )

    def clean_categories(self) -> list[str]:
        raw = self.cleaned_data.get("categories") or ""
        values = [part.strip() for part in raw.replace("、", ",").split(",") if part.strip()]
        if any(len(value) > 64 for value in values):
            raise forms.ValidationError("カテゴリは1つ64文字以内で入力してください。")
        return sorted(set(values))

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        for low, high, label in self.RANGES:
            if data.get(low) is not None and data.get(high) is not None and data[low] > data[high]:
                self.add_error(high, f"{label}の範囲が逆になっています(下限 ≦ 上限)。")
        return data

    @classmethod
    def initial_for(cls, segment: Segment) -> dict[str, Any]:
        initial: dict[str, Any] = {name: getattr(segment, name) for name in SCALAR_CRITERIA}
        initial.update(
            name=segment.name,
            description=segment.description,
            tiers=list(segment.tiers.all()),
            stores=list(segment.stores.all()),
            genders=[g or "unknown" for g in segment.genders],
            prefectures=segment.prefectures,
            categories=", ".join(segment.categories),
        )
        return initial

    def criteria(self) -> SegmentCriteria:
        data = self.cleaned_data
        return SegmentCriteria(
            tier_ids=tuple(sorted(t.pk for t in data["tiers"])),
            store_ids=tuple(sorted(s.pk for s in data["stores"])),
            genders=tuple(sorted("" if g == "unknown" else g for g in data["genders"])),
            prefectures=tuple(data["prefectures"]),
            categories=tuple(data["categories"]),
            **{name: data.get(name) for name in SCALAR_CRITERIA},
        )


# Labels for the scalar fields (kept beside the form, in screen order).
for _name, _label in {
    "age_min": "年齢(以上)",
    "age_max": "年齢(以下)",
    "joined_from": "入会日(から)",
    "joined_to": "入会日(まで)",
    "linked_from": "連携日(から)",
    "linked_to": "連携日(まで)",
    "last_purchase_from": "最終購入日(から)",
    "last_purchase_to": "最終購入日(まで)",
    "window_days": "購入集計期間(直近N日、空欄=全期間)",
    "purchase_count_min": "購入回数(以上)",
    "purchase_count_max": "購入回数(以下)",
    "spend_min": "購入金額・円(以上)",
    "spend_max": "購入金額・円(以下)",
    "balance_min": "ポイント残高(以上)",
    "balance_max": "ポイント残高(以下)",
    "expiring_within_days": "N日以内に失効するポイントがある",
}.items():
    SegmentForm.base_fields[_name].label = _label


class BroadcastForm(forms.ModelForm):
    image_url = forms.URLField(
        label="画像URL(https://、クーポンでは任意)",
        max_length=2000,
        required=False,
        assume_scheme="https",
    )
    preview_image_url = forms.URLField(
        label="プレビュー画像URL(https://、画像のみ)",
        max_length=2000,
        required=False,
        assume_scheme="https",
    )

    class Meta:
        model = Broadcast
        fields = [
            "name",
            "segment",
            "kind",
            "text",
            "image_url",
            "preview_image_url",
            "coupon_title",
            "coupon_description",
            "coupon_code",
            "coupon_valid_until",
        ]
        widgets = {
            "kind": forms.RadioSelect,
            "text": forms.Textarea(attrs={"rows": 5}),
            "coupon_valid_until": forms.DateInput(attrs={"type": "date"}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        kind = self.fields["kind"]
        segment = self.fields["segment"]
        assert isinstance(kind, forms.ChoiceField)
        assert isinstance(segment, forms.ModelChoiceField)
        kind.choices = BroadcastKind.choices  # no blank option: every broadcast has a kind
        segment.queryset = Segment.objects.order_by("name")
        segment.empty_label = "選択してください"

    def content(self) -> dict[str, Any]:
        return {
            name: self.cleaned_data.get(name)
            for name in self.Meta.fields
            if name not in ("name", "segment")
        }


class ScheduleForm(forms.Form):
    send_at = forms.DateTimeField(
        label="配信日時",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if "send_now" not in self.data and data.get("send_at") is None and not self.errors:
            self.add_error("send_at", "配信日時を入力してください。")
        return data


class TestSendForm(forms.Form):
    recipient = forms.CharField(label="会員番号またはLINEユーザーID", max_length=40, strip=True)


def _template_error(*, trigger: str, template: str) -> str | None:
    try:
        template_check(trigger=trigger, template=template)
    except TemplateInvalid as exc:
        return str(exc)
    return None


class TriggeredMessageForm(forms.Form):
    enabled = forms.BooleanField(label="送信する", required=False)
    template = forms.CharField(label="本文", widget=forms.Textarea(attrs={"rows": 6}))
    days_before = forms.IntegerField(
        label="何日前に送るか", min_value=1, max_value=365, required=False
    )

    def __init__(self, *args: Any, trigger: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.trigger = trigger
        if trigger != Trigger.POINTS_EXPIRING:
            del self.fields["days_before"]

    @property
    def placeholders(self) -> str:
        return " ".join(f"{{{name}}}" for name in PLACEHOLDERS.get(self.trigger, ()))

    def clean_template(self) -> str:
        template = self.cleaned_data["template"]
        error = _template_error(trigger=self.trigger, template=template)
        if error:
            raise forms.ValidationError(error)
        return template

    def clean_days_before(self) -> int:
        value = self.cleaned_data.get("days_before")
        if value is None:
            raise forms.ValidationError("日数を入力してください。")
        return value


class StepMessageForm(forms.ModelForm):
    class Meta:
        model = StepMessage
        fields = ["name", "days_after", "template", "enabled"]
        widgets = {"template": forms.Textarea(attrs={"rows": 6})}

    placeholders = " ".join(f"{{{name}}}" for name in PLACEHOLDERS[STEP_MESSAGE])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["days_after"].widget.attrs.update(min=1, max=365)

    def clean_days_after(self) -> int:
        value = self.cleaned_data["days_after"]
        if not 1 <= value <= 365:
            raise forms.ValidationError("1〜365日の範囲で入力してください。")
        return value

    def clean_template(self) -> str:
        template = self.cleaned_data["template"]
        error = _template_error(trigger=STEP_MESSAGE, template=template)
        if error:
            raise forms.ValidationError(error)
        return template
