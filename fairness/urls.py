from django.urls import path

from fairness import views

urlpatterns = [
    path("program/", views.program, name="program"),
    path("artist/", views.artist_home, name="artist_home"),
    path("artist/settings/", views.artist_settings, name="artist_settings"),
    path("artist/archive.zip", views.archive, name="artist_archive"),
    path("artist/uses/<int:use_request_id>/", views.use_answer, name="use_answer"),
    path("outputs/<uuid:output_id>/appeal/", views.output_appeal, name="output_appeal"),
    path("outputs/<uuid:output_id>/delete/", views.delete_output, name="output_delete"),
    path("staff/holds/", views.staff_holds, name="staff_holds"),
    path(
        "staff/holds/<int:legal_hold_id>/release/",
        views.staff_hold_release,
        name="staff_hold_release",
    ),
    path("staff/uses/", views.staff_uses, name="staff_uses"),
    path("staff/uses/export.csv", views.staff_uses_export, name="staff_uses_export"),
    path(
        "staff/uses/<int:use_request_id>/record/", views.staff_use_record, name="staff_use_record"
    ),
    path("threads/", views.threads, name="threads"),
    path("threads/feedback/<int:feedback_id>/", views.feedback_reply, name="feedback_reply"),
    path(
        "threads/feedback/<int:feedback_id>/status/",
        views.feedback_status,
        name="feedback_status",
    ),
    path("threads/findings/<int:finding_id>/", views.finding_reply, name="finding_reply"),
    path("threads/findings/<int:finding_id>/status/", views.finding_status, name="finding_status"),
    path("review/appeals/", views.appeals, name="appeals"),
    path("review/appeals/<int:appeal_id>/decide/", views.appeal_decision, name="appeal_decision"),
]
