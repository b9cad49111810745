"""Contain a leak from the command line: the same services as the staff page and the admin."""

from django.core.management.base import BaseCommand, CommandError

from access.models import Cohort, User
from access.services import AccessError, cohort_reinstate, program_resume, tester_reinstate
from containment.services import cohort_suspend, program_pause, tester_revoke, tester_suspend


class Command(BaseCommand):
    help = (
        "contain tester EMAIL (revoke|suspend|reinstate) | contain cohort NAME (suspend|reinstate)"
        " | contain program (pause|resume); --reason is required to end access."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("scope", choices=["tester", "cohort", "program"])
        parser.add_argument("target", nargs="+", help="[EMAIL|NAME] ACTION")
        parser.add_argument("--reason", default="")

    def handle(self, *args, scope: str, target: list[str], reason: str, **options) -> None:
        try:
            result = self._run(scope, target, reason)
        except AccessError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Done: {result}"))

    def _run(self, scope: str, args: list[str], reason: str):
        if scope == "program":
            action = self._one(args, {"pause", "resume"})
            return (
                program_pause(by=None, reason=reason)
                if action == "pause"
                else program_resume(by=None)
            )
        if len(args) != 2:
            raise CommandError(
                f"Usage: contain {scope} <{'email' if scope == 'tester' else 'name'}> <action>"
            )
        name, action = args
        if scope == "cohort":
            cohort = Cohort.objects.filter(name__iexact=name).first()
            if cohort is None:
                raise CommandError(f"No cohort named {name!r}.")
            self._one([action], {"suspend", "reinstate"})
            if action == "suspend":
                return cohort_suspend(cohort=cohort, by=None, reason=reason)
            return cohort_reinstate(cohort=cohort, by=None)
        tester = User.objects.filter(email__iexact=name).first()
        if tester is None:
            raise CommandError(f"No user with the email {name!r}.")
        actions = {"revoke": tester_revoke, "suspend": tester_suspend}
        self._one([action], {*actions, "reinstate"})
        if action == "reinstate":
            return tester_reinstate(tester=tester, by=None, reason=reason)
        return actions[action](tester=tester, by=None, reason=reason)

    def _one(self, args: list[str], allowed: set[str]) -> str:
        if len(args) != 1 or args[0] not in allowed:
            raise CommandError(f"Choose one of: {', '.join(sorted(allowed))}.")
        return args[0]
