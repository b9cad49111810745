"""Staff roles that exist from the first migration (the access-control issue extends this)."""

from django.contrib.auth.models import Group

from access.models import User

REVIEWERS_GROUP = "Reviewers"


def reviewer_grant(*, user: User) -> None:
    """Make `user` a reviewer: staff, in the Reviewers group (which holds moderate_output)."""
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.groups.add(Group.objects.get(name=REVIEWERS_GROUP))
