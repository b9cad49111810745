"""Program terms: publish a new version, accept the current one."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from access import audit
from access.models import TermsAcceptance, TermsVersion, User
from access.selectors import terms_current
from access.services.common import AccessError, audit_record, require_access_manager


def terms_publish(*, title: str, body: str, by: User | None) -> TermsVersion:
    """Publish a new version; every tester is asked to accept it before using the studio again."""
    require_access_manager(by)
    if not title.strip() or not body.strip():
        raise AccessError("Terms need a title and a body.")
    with transaction.atomic():
        latest = TermsVersion.objects.select_for_update().order_by("-version").first()
        terms = TermsVersion.objects.create(
            version=(latest.version + 1) if latest else 1,
            title=title.strip(),
            body=body.strip(),
            published_at=timezone.now(),
            created_by=by,
        )
        audit_record(
            action=audit.TERMS_PUBLISHED,
            actor=by,
            target=terms,
            details={"version": terms.version},
        )
    return terms


def terms_accept(*, user: User, terms: TermsVersion, ip: str | None = None) -> TermsAcceptance:
    current = terms_current()
    if current is None or terms.pk != current.pk:
        raise AccessError("These are not the current terms; reload the page.")
    with transaction.atomic():
        acceptance, created = TermsAcceptance.objects.get_or_create(
            user=user, terms=terms, defaults={"ip": ip}
        )
        if created:
            audit_record(
                action=audit.TERMS_ACCEPTED,
                actor=user,
                target=terms,
                details={"version": terms.version},
                ip=ip,
            )
    return acceptance
