from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PosBridgeConfig(AppConfig):
    name = "pos_bridge"
    verbose_name = _("POS連携")
