from django.urls import path

from access import views

urlpatterns = [
    path("invite/<token:code>/", views.invitation_open, name="invitation_open"),
    path("terms/", views.terms, name="terms"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:token_id>/revoke/", views.token_revoke_view, name="token_revoke"),
    path("staff/invitations/", views.staff_invitations, name="staff_invitations"),
    path(
        "staff/invitations/<int:invitation_id>/<str:action>/",
        views.staff_invitation_action,
        name="staff_invitation_action",
    ),
    path("staff/testers/", views.staff_testers, name="staff_testers"),
    path(
        "staff/testers/<int:user_id>/<str:action>/",
        views.staff_tester_action,
        name="staff_tester_action",
    ),
    path("staff/audit/", views.staff_audit, name="staff_audit"),
    path("staff/containment/", views.staff_containment, name="staff_containment"),
]
