"""Role and permission changes are pushed to the user's sockets (`standing.changed`).

Containment actions close sockets with their own message (`access.ended`). A role taken away
another way (the admin, `groups.remove`, a group losing a permission) has no service of its own
to publish from, so these receivers watch the many-to-many tables that grant permissions and tell
each affected user's sockets, on commit, to check their standing afresh. Without the push, an
event sent within STANDING_MAX_AGE_S of the change could still reach the socket (the cached
standing); with it, the check comes first, because one channel's messages arrive in order.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models.signals import m2m_changed
from django.dispatch import receiver

from access.models import User
from realtime import groups
from realtime.events import StandingChangedEvent
from realtime.publisher import publish

CHANGES = ("post_add", "post_remove", "post_clear")


def _push_on_commit(user_ids: Iterable[int]) -> None:
    ids = sorted(set(user_ids))
    if not ids:
        return

    def push() -> None:
        for user_id in ids:
            publish(StandingChangedEvent(user_id=user_id), groups=[groups.user_group(user_id)])

    transaction.on_commit(push)


def _members(group_ids: Iterable[int]) -> list[int]:
    return list(User.objects.filter(groups__in=list(group_ids)).values_list("pk", flat=True))


@receiver(m2m_changed, sender=User.groups.through, dispatch_uid="realtime.user_groups")
@receiver(m2m_changed, sender=User.user_permissions.through, dispatch_uid="realtime.user_perms")
def user_roles_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: set[int] | None, **kwargs: Any
) -> None:
    if not reverse:  # the user's own roles or permissions
        if action in CHANGES:
            _push_on_commit([instance.pk])
    elif action == "pre_clear":  # a group or permission emptied: who had it, before it goes
        _push_on_commit(instance.user_set.values_list("pk", flat=True))
    elif action in ("post_add", "post_remove"):
        _push_on_commit(pk_set or ())


@receiver(m2m_changed, sender=Group.permissions.through, dispatch_uid="realtime.group_perms")
def group_permissions_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: set[int] | None, **kwargs: Any
) -> None:
    if not reverse and action in CHANGES:  # one group's permissions
        _push_on_commit(_members([instance.pk]))
    elif reverse and action in ("post_add", "post_remove"):  # one permission, in these groups
        _push_on_commit(_members(pk_set or ()))
    elif reverse and action == "pre_clear":
        _push_on_commit(_members(instance.group_set.values_list("pk", flat=True)))
