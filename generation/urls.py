from django.urls import path

from generation import views

urlpatterns = [
    path("studio/", views.studio, name="studio"),
]
