from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from access.api.schema import DocsView, SchemaView
from access.views import favicon, home

# The admin signs in through allauth (rate limits, MFA), never its own bare login form.
# The replaced bound method is deliberate (allauth's documented pattern); mypy forbids it.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]
admin.site.site_header = "Vernissage administration"

urlpatterns = [
    path("", home, name="home"),  # each role's first page
    # Browsers ask for /favicon.ico when a page names no icon (the API docs, a bare error).
    path("favicon.ico", favicon),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("access.urls")),
    path("", include("generation.urls")),
    path("", include("review.urls")),
    path("", include("ops.urls")),
    path("", include("fairness.urls")),
    path("", include("provenance.urls")),
    path("", include("webhooks.urls")),
    path("api/v1/schema/", SchemaView.as_view(), name="api_schema"),
    path("api/v1/docs/", DocsView.as_view(url_name="api_schema"), name="api_docs"),
    path("api/v1/", include("generation.api.urls")),
    path("api/v1/", include("review.api.urls")),
    path("api/v1/", include("provenance.api.urls")),
    path("api/v1/", include("webhooks.api.urls")),
    path("api/v1/", include("containment.api.urls")),
]

# An outage that escapes every view and middleware is a 503 naming the service, not a bare 500.
handler500 = "access.views.server_error"
