from django.urls import path

from generation.api import views

urlpatterns = [
    path("jobs/", views.JobListView.as_view(), name="api_jobs"),
    path("jobs/<uuid:job_id>/", views.JobDetailView.as_view(), name="api_job"),
    path("jobs/<uuid:job_id>/cancel/", views.JobCancelView.as_view(), name="api_job_cancel"),
]
