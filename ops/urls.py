from django.urls import path

from ops import views

urlpatterns = [
    path("health/live", views.health_live, name="health_live"),
    path("health/ready", views.health_ready, name="health_ready"),
    path("metrics", views.metrics_view, name="metrics"),
    path("staff/usage/", views.staff_usage, name="staff_usage"),
]
