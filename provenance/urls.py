from django.urls import path

from provenance import views

urlpatterns = [
    path("staff/traces/", views.traces, name="staff_traces"),
    path("staff/traces/<uuid:trace_id>/", views.trace_detail, name="staff_trace"),
    path(
        "staff/traces/<uuid:trace_id>/contain/",
        views.trace_contain_view,
        name="staff_trace_contain",
    ),
]
