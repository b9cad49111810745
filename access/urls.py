from django.urls import path

from access import views

urlpatterns = [
    path("invite/<str:code>/", views.invitation_open, name="invitation_open"),
]
