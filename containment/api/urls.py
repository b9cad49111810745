from django.urls import path

from containment.api import views

urlpatterns = [
    path(
        "containment/testers/<int:user_id>/",
        views.TesterContainmentView.as_view(),
        name="api_contain_tester",
    ),
    path(
        "containment/cohorts/<int:cohort_id>/",
        views.CohortContainmentView.as_view(),
        name="api_contain_cohort",
    ),
    path(
        "containment/program/",
        views.ProgramContainmentView.as_view(),
        name="api_contain_program",
    ),
]
