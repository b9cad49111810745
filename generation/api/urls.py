from django.urls import path

from generation.api import models_views, rerun, views

urlpatterns = [
    path("jobs/", views.JobListView.as_view(), name="api_jobs"),
    path("jobs/<uuid:job_id>/", views.JobDetailView.as_view(), name="api_job"),
    path("jobs/<uuid:job_id>/cancel/", views.JobCancelView.as_view(), name="api_job_cancel"),
    path("jobs/<uuid:job_id>/rerun/", rerun.JobRerunView.as_view(), name="api_job_rerun"),
    path("models/", models_views.ModelListView.as_view(), name="api_models"),
    path("budget/", models_views.BudgetView.as_view(), name="api_budget"),
]
