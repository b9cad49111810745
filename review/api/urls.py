from django.urls import path

from review.api import findings, outputs, shares, staff, views

urlpatterns = [
    path("review/queue/", views.ReviewQueueView.as_view(), name="api_review_queue"),
    path("review/bulk/", staff.ReviewBulkView.as_view(), name="api_review_bulk"),
    path(
        "review/outputs/<uuid:output_id>/claim/",
        staff.ReviewClaimView.as_view(),
        name="api_review_claim",
    ),
    path(
        "review/outputs/<uuid:output_id>/decision/",
        staff.ReviewDecisionView.as_view(),
        name="api_review_decision",
    ),
    path("outputs/", outputs.OutputListView.as_view(), name="api_outputs"),
    path("outputs/<uuid:output_id>/", outputs.OutputDetailView.as_view(), name="api_output"),
    path(
        "outputs/<uuid:output_id>/content/",
        outputs.OutputContentView.as_view(),
        name="api_output_content",
    ),
    path(
        "outputs/<uuid:output_id>/poster/",
        outputs.OutputPosterView.as_view(),
        name="api_output_poster",
    ),
    path(
        "outputs/<uuid:output_id>/shares/",
        shares.OutputShareView.as_view(),
        name="api_output_shares",
    ),
    path(
        "outputs/<uuid:output_id>/feedback/",
        findings.OutputFeedbackView.as_view(),
        name="api_output_feedback",
    ),
    path(
        "outputs/<uuid:output_id>/findings/",
        findings.OutputFindingView.as_view(),
        name="api_output_findings",
    ),
    path("downloads/<str:signed>/", outputs.DownloadView.as_view(), name="api_download"),
    path("shares/", shares.ShareListView.as_view(), name="api_shares"),
    path("shares/<int:link_id>/revoke/", shares.ShareRevokeView.as_view(), name="api_share_revoke"),
    path("findings/", findings.FindingListView.as_view(), name="api_findings"),
    path("findings/<int:finding_id>/", findings.FindingDetailView.as_view(), name="api_finding"),
    path(
        "findings/<int:finding_id>/move/",
        findings.FindingMoveView.as_view(),
        name="api_finding_move",
    ),
]
