"""Roles are Django groups holding permissions; views and services check permissions, not flags.

- Testers: may submit jobs (a red-teamer is a tester whose cohort is in the red-team lane).
- Reviewers: staff who moderate outputs.
- Admins: staff who manage access (invitations, testers, tokens) and read the audit log.
- Leak response: staff who trace leaked files to their output and tester (admins can too).
"""

from django.contrib.auth.models import AnonymousUser, Group, Permission
from django.db.models import Q

from access.models import User
from access.prepared import PreparedQuery

TESTERS = "Testers"
REVIEWERS = "Reviewers"
ADMINS = "Admins"
LEAK_RESPONSE = "Leak response"
STAFF_ROLES = (REVIEWERS, ADMINS, LEAK_RESPONSE)
# Permissions named by string: access knows the roles of the whole program, not the apps' code.
SUBMIT_PERMISSION = "generation.submit_job"
MODERATE_PERMISSION = "review.moderate_output"
USE_REQUEST_PERMISSION = "fairness.request_output_use"
LEGAL_HOLD_PERMISSION = "fairness.place_legal_hold"
TRACE_PERMISSION = "provenance.run_trace"

ROLE_PERMISSIONS = {
    TESTERS: [("generation", "submit_job")],
    REVIEWERS: [("review", "moderate_output"), ("generation", "view_job")],
    ADMINS: [
        ("access", "add_invitation"),
        ("access", "change_invitation"),
        ("access", "view_invitation"),
        ("access", "view_user"),
        ("access", "change_user"),
        ("access", "view_cohort"),
        ("access", "add_cohort"),
        ("access", "change_cohort"),
        ("access", "view_auditentry"),
        ("access", "view_apitoken"),
        ("access", "change_apitoken"),
        ("access", "add_termsversion"),
        ("access", "view_termsversion"),
        ("fairness", "request_output_use"),
        ("fairness", "place_legal_hold"),
        ("fairness", "add_programpage"),
        ("fairness", "change_programpage"),
        ("fairness", "view_programpage"),
        ("provenance", "run_trace"),
    ],
    LEAK_RESPONSE: [("provenance", "run_trace")],
}


def roles_ensure(**kwargs) -> None:
    """Create the role groups and give them their permissions: a handful of queries in all (it
    runs at every `role_grant`, so once per user many tests make)."""
    wanted = Q()
    for codenames in ROLE_PERMISSIONS.values():
        for app_label, codename in codenames:
            wanted |= Q(content_type__app_label=app_label, codename=codename)
    found = {
        (permission.content_type.app_label, permission.codename): permission
        for permission in Permission.objects.filter(wanted).select_related("content_type")
    }
    for name, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        # A permission is missing only while its app's own migrations run.
        group.permissions.add(*(found[c] for c in codenames if c in found))


def role_grant(*, user: User, role: str) -> None:
    """Reviewers, admins and leak responders are staff (they may reach staff pages, behind MFA)."""
    roles_ensure()
    if role in STAFF_ROLES and not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    user.groups.add(Group.objects.get(name=role))


def can_moderate(user: User) -> bool:
    """May `user` moderate outputs (review queue, other testers' jobs)? A role, not a standing."""
    return bool(user.is_active) and user.has_perm(MODERATE_PERMISSION)


def can_view_usage(user: User) -> bool:
    """May `user` read every tester's and cohort's usage (GPU-seconds, jobs, reviews)? Admins."""
    return bool(user.is_active) and user.has_perm("access.view_user")


def can_request_use(user: User) -> bool:
    """May `user` ask artists to use their outputs, record uses and export consented outputs?"""
    return bool(user.is_active) and user.has_perm(USE_REQUEST_PERMISSION)


def can_place_legal_hold(user: User) -> bool:
    """May `user` pause (and resume) the deletion of a tester's outputs for an investigation?"""
    return bool(user.is_active) and user.has_perm(LEGAL_HOLD_PERMISSION)


def can_trace(user: User) -> bool:
    """May `user` trace a leaked file to its output and tester (admins and leak responders)?"""
    return bool(user.is_active) and user.has_perm(TRACE_PERMISSION)


_SUBMIT_GRANTED = PreparedQuery(
    lambda user_id: (
        Permission.objects.filter(Q(user__id=user_id) | Q(group__user__id=user_id))
        .filter(
            content_type__app_label=SUBMIT_PERMISSION.split(".")[0],
            codename=SUBMIT_PERMISSION.split(".")[1],
        )
        .order_by()
        .values_list("pk")[:1]
    ),
    user_id=int,
)


def can_submit(user: User) -> bool:
    """`user.has_perm(SUBMIT_PERMISSION)` in one query instead of two (the user's own and their
    groups' permissions), compiled once: every submission asks, and our backends grant nothing
    else (ModelBackend, and allauth's, which extends it)."""
    if not user.is_active:
        return False
    if user.is_superuser:
        return True
    return bool(_SUBMIT_GRANTED.rows(user_id=user.pk))


def home_for(user: User | AnonymousUser) -> str:
    """The URL name of a user's first page after signing in: access admins their testers,
    reviewers the review queue, everyone else the studio."""
    if not isinstance(user, User) or not user.is_active:
        return "studio"
    if user.has_perm("access.change_invitation"):
        return "staff_testers"
    return "review_queue" if can_moderate(user) else "studio"


def roles_snapshot(user_id: int | None) -> dict[str, object]:
    """What grants power to a user, as stored now: for audit entries of role changes."""
    user = User.objects.filter(pk=user_id).first() if user_id else None
    if user is None:
        return {}
    return {
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
        "groups": sorted(user.groups.values_list("name", flat=True)),
        "permissions": sorted(user.user_permissions.values_list("codename", flat=True)),
    }
