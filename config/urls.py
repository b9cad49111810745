from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="studio", permanent=False)),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("access.urls")),
    path("", include("generation.urls")),
    path("", include("review.urls")),
    path("api/v1/", include("generation.api.urls")),
]
