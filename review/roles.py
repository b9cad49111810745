from access.models import User
from access.roles import REVIEWERS, role_grant


def reviewer_grant(*, user: User) -> None:
    """Make `user` a reviewer: staff, in the Reviewers group (which holds moderate_output)."""
    role_grant(user=user, role=REVIEWERS)
