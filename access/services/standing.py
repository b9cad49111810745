"""Standing: who is in good standing. Changes a tester's, a cohort's or the program's standing.

The functions that *end* access (`tester_standing_end`, `cohort_standing_suspend`,
`program_standing_pause`) are steps of `containment.services.contain`, which runs them inside its
own transaction together with the other apps' steps and writes the one audit entry; they change
only access's rows and return the ids of the testers whose access just ended. Lifting a
suspension or a pause ends nothing elsewhere, so those are complete services here, audited.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from access import audit
from access.models import Cohort, Program, User
from access.services.common import AccessError, audit_record, require_access_manager


def containment_reason(reason: str) -> str:
    """The reason every containment action requires (shown to the people affected, audited)."""
    reason = (reason or "").strip()
    if not reason:
        raise AccessError("A reason is required: it is shown to the people affected and audited.")
    return reason[:500]


def _lock_tester(tester: User) -> User:
    if tester.is_staff:
        raise AccessError("Staff accounts are managed in the admin, not by standing.")
    tester = User.objects.select_for_update().get(pk=tester.pk)
    if tester.standing == User.Standing.REVOKED:
        raise AccessError("A revoked tester cannot be changed; invite them again instead.")
    return tester


def tester_standing_end(*, tester: User, to: str, reason: str) -> list[int]:
    """Containment step: set a tester SUSPENDED or REVOKED. Returns [their id]."""
    if to not in (User.Standing.SUSPENDED, User.Standing.REVOKED):
        raise ValueError(f"Not a standing that ends access: {to!r}")
    tester = _lock_tester(tester)
    tester.standing, tester.standing_reason = to, reason
    tester.standing_changed_at = timezone.now()
    tester.save(update_fields=["standing", "standing_reason", "standing_changed_at"])
    return [tester.pk]


def cohort_standing_suspend(*, cohort: Cohort, reason: str) -> list[int]:
    """Containment step: suspend a cohort. Returns the ids of its (non-staff) members."""
    cohort = Cohort.objects.select_for_update().get(pk=cohort.pk)
    if cohort.suspended_at is not None:
        raise AccessError(f"{cohort.name} is already suspended.")
    cohort.suspended_at, cohort.suspension_reason = timezone.now(), reason
    cohort.save(update_fields=["suspended_at", "suspension_reason", "updated_at"])
    return list(User.objects.filter(cohort=cohort, is_staff=False).values_list("id", flat=True))


def program_standing_pause(*, reason: str) -> tuple[Program, list[int]]:
    """Containment step: pause the program. Returns it and the ids of every non-staff user."""
    program = Program.objects.select_for_update().get(pk=Program.current().pk)
    if program.paused_at is not None:
        raise AccessError("The program is already paused.")
    program.paused_at, program.pause_reason = timezone.now(), reason
    program.save(update_fields=["paused_at", "pause_reason", "updated_at"])
    return program, list(User.objects.filter(is_staff=False).values_list("id", flat=True))


def tester_reinstate(*, tester: User, by: User | None, reason: str = "") -> User:
    """Lift a suspension. Ended sessions stay ended: the tester signs in again."""
    require_access_manager(by)
    with transaction.atomic():
        tester = _lock_tester(tester)
        if tester.standing != User.Standing.SUSPENDED:
            raise AccessError("This tester is not suspended.")
        tester.standing, tester.standing_reason = User.Standing.ACTIVE, reason.strip()[:500]
        tester.standing_changed_at = timezone.now()
        tester.save(update_fields=["standing", "standing_reason", "standing_changed_at"])
        audit_record(
            action=audit.TESTER_REINSTATED,
            actor=by,
            target=tester,
            details={"scope": "tester", "reason": reason},
        )
    return tester


def cohort_reinstate(*, cohort: Cohort, by: User | None) -> Cohort:
    require_access_manager(by)
    with transaction.atomic():
        cohort = Cohort.objects.select_for_update().get(pk=cohort.pk)
        if cohort.suspended_at is None:
            raise AccessError(f"{cohort.name} is not suspended.")
        cohort.suspended_at, cohort.suspension_reason = None, ""
        cohort.save(update_fields=["suspended_at", "suspension_reason", "updated_at"])
        audit_record(
            action=audit.COHORT_REINSTATED, actor=by, target=cohort, details={"scope": "cohort"}
        )
    return cohort


def program_resume(*, by: User | None) -> Program:
    """Testers sign in again; share links that were valid before the pause resolve again."""
    require_access_manager(by)
    with transaction.atomic():
        program = Program.objects.select_for_update().get(pk=Program.current().pk)
        if program.paused_at is None:
            raise AccessError("The program is not paused.")
        program.paused_at, program.pause_reason = None, ""
        program.save(update_fields=["paused_at", "pause_reason", "updated_at"])
        audit_record(
            action=audit.PROGRAM_RESUMED, actor=by, target=program, details={"scope": "program"}
        )
    return program
