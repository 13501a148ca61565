from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LineMessagingConfig(AppConfig):
    name = "line_messaging"
    verbose_name = _("LINE連携")
