"""Staff roles that exist from the first migration (the access-control issue extends this)."""

from django.contrib.auth.models import Group, Permission

from access.models import User

REVIEWERS_GROUP = "Reviewers"
MODERATE_CODENAME = "moderate_output"


def reviewers_group_ensure(**kwargs) -> Group:
    """The Reviewers group holding moderate_output; run after every migrate (and test flush)."""
    group, _ = Group.objects.get_or_create(name=REVIEWERS_GROUP)
    permission = Permission.objects.filter(
        content_type__app_label="review", codename=MODERATE_CODENAME
    ).first()
    if permission is not None:
        group.permissions.add(permission)
    return group


def reviewer_grant(*, user: User) -> None:
    """Make `user` a reviewer: staff, in the Reviewers group."""
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.groups.add(reviewers_group_ensure())
