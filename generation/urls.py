from django.urls import path

from generation import views

urlpatterns = [
    path("studio/", views.studio, name="studio"),
    path("studio/jobs/<uuid:job_id>/cancel/", views.cancel, name="job_cancel"),
]
