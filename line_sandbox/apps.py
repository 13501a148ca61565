from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LineSandboxConfig(AppConfig):
    name = "line_sandbox"
    verbose_name = _("LINEサンドボックス")
