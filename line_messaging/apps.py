from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LineMessagingConfig(AppConfig):
    name = "line_messaging"
    verbose_name = _("LINE連携")

    def ready(self) -> None:
        from line_messaging import checks  # noqa: F401 (registers the deploy check)
