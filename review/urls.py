from django.urls import path

from review import views

urlpatterns = [
    path("review/", views.queue, name="review_queue"),
    path("review/bulk/", views.bulk_decide, name="review_bulk"),
    path("review/stats/", views.stats, name="review_stats"),
    path("review/outputs/<uuid:output_id>/claim/", views.claim, name="review_claim"),
    path("review/outputs/<uuid:output_id>/decide/", views.decide, name="review_decide"),
    path("review/outputs/<uuid:output_id>/undo/", views.undo, name="review_undo"),
    path("review/testers/<int:user_id>/note/", views.tester_note, name="review_tester_note"),
    path("findings/", views.findings, name="findings"),
    path("findings/<int:finding_id>/move/", views.finding_action, name="finding_action"),
    path("gallery/", views.gallery_page, name="gallery"),
    path("shares/", views.my_shares, name="my_shares"),
    path("shares/<int:link_id>/revoke/", views.share_revoke, name="share_revoke"),
    path("preferences/", views.preferences, name="preferences"),
    path("outputs/<uuid:output_id>/", views.output_detail, name="output_detail"),
    path("outputs/<uuid:output_id>/share/", views.share, name="output_share"),
    path("outputs/<uuid:output_id>/gallery/", views.gallery_toggle, name="output_gallery"),
    path("outputs/<uuid:output_id>/feedback/", views.feedback, name="output_feedback"),
    path("outputs/<uuid:output_id>/finding/", views.finding, name="output_finding"),
    path("outputs/<uuid:output_id>/video.mp4", views.output_video, name="output_video"),
    path("outputs/<uuid:output_id>/poster.jpg", views.output_poster, name="output_poster"),
    path("s/<token:token>/", views.shared_page, name="shared_page"),
    path("s/<token:token>/video.mp4", views.shared_video, name="shared_video"),
    path("s/<token:token>/poster.jpg", views.shared_poster, name="shared_poster"),
]
