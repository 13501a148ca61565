from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LiffConfig(AppConfig):
    name = "liff"
    verbose_name = _("LIFF会員証")
