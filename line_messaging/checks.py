from django.conf import settings
from django.core.checks import Warning, register


@register(deploy=True)
def line_credentials_check(app_configs, **kwargs):
    """`manage.py check --deploy` names missing LINE settings before shoppers notice."""
    missing = [
        name
        for name in (
            "LINE_CHANNEL_SECRET",
            "LINE_CHANNEL_ACCESS_TOKEN",
            "LINE_LOGIN_CHANNEL_ID",
            "LIFF_ID",
        )
        if not getattr(settings, name, "")
    ]
    if not missing:
        return []
    return [
        Warning(
            f"LINE is not configured: {', '.join(missing)} empty. Webhooks will be refused "
            "and nothing can be sent to LINE.",
            id="line_messaging.W001",
        )
    ]
