"""The project's URLs with the sandbox mounted, whatever LINE_SANDBOX was at import time."""

from django.urls import URLResolver, include, path

from config.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path("line-sandbox/", include("line_sandbox.urls")),
    *(
        pattern
        for pattern in project_urlpatterns
        if not (isinstance(pattern, URLResolver) and pattern.namespace == "line_sandbox")
    ),
]
