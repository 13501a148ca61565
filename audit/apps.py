from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = _("監査ログ")

    def ready(self) -> None:
        # Connects the receiver that records failed logins for the throttle.
        from audit import login_throttle  # noqa: F401
