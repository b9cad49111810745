from django.urls import path

from provenance.api import views

urlpatterns = [
    path("traces/", views.TraceListView.as_view(), name="api_traces"),
    path("traces/<uuid:trace_id>/", views.TraceDetailView.as_view(), name="api_trace"),
]
