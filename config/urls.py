from django.contrib import admin
from django.http import HttpRequest, HttpResponseRedirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config.health import healthz

# Any exception no view answered: JSON on the API and the webhook, 503 while a dependency is
# down (config/errors.py).
handler500 = "config.errors.server_error"


@require_safe
@cache_control(max_age=60 * 60 * 24, public=True)
def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """Browsers ask for /favicon.ico by themselves (pages link the SVG): send them to it, under
    its hashed static name in production."""
    return HttpResponseRedirect(static("favicon.svg"))


api_v1 = [
    path("", include("accounts.api.urls")),
    path("", include("usage.api.urls")),
    path("", include("pql.api.urls")),
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    # The docs page loads its start-up script from a URL of its own (?script): the content
    # security policy allows no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api_schema"), name="api_docs"),
    path("billing/stripe/", include("billing.stripe.urls")),
    path("sales/integrations/", include("outbound.urls")),
    path("sales/", include("pql.urls")),
    path("metrics/", include("metrics.urls")),
    path("", include("notifications.urls")),
    path("", include("billing.urls")),
    path("", include("usage.urls")),
    path("", include("accounts.urls")),
]
