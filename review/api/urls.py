from django.urls import path

from review.api import views

urlpatterns = [
    path("review/queue/", views.ReviewQueueView.as_view(), name="api_review_queue"),
]
