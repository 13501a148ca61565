from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path

from config.api import api, api_not_found

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("line/", include("line_messaging.urls")),
    path("liff/", include("liff.urls")),
    path("staff/", include("pos_bridge.urls_staff")),
    # HQ: one URL space, one app per concern (dashboard, segment messages, audit, the rest).
    path("hq/", include("analytics.urls")),
    path("hq/", include("broadcasts.urls")),
    path("hq/", include("audit.urls")),
    path("hq/", include("hq.urls")),
    re_path(r"^api/(?P<unmatched>.*)$", api_not_found),
]
if settings.LINE_SANDBOX_ROUTES:
    urlpatterns.append(path("line-sandbox/", include("line_sandbox.urls")))
