from django.urls import path

from review import views

urlpatterns = [
    path("review/", views.queue, name="review_queue"),
    path("review/outputs/<uuid:output_id>/decide/", views.decide, name="review_decide"),
    path("outputs/<uuid:output_id>/", views.output_detail, name="output_detail"),
    path("outputs/<uuid:output_id>/share/", views.share, name="output_share"),
    path("outputs/<uuid:output_id>/video.mp4", views.output_video, name="output_video"),
    path("outputs/<uuid:output_id>/poster.jpg", views.output_poster, name="output_poster"),
    path("s/<str:token>/", views.shared_page, name="shared_page"),
    path("s/<str:token>/video.mp4", views.shared_video, name="shared_video"),
    path("s/<str:token>/poster.jpg", views.shared_poster, name="shared_poster"),
]
