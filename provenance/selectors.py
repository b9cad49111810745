"""Reading what a serial names: the output or share link, its job, tester, cohort and links."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import QuerySet

from generation.marks import is_share_link_serial
from provenance.fingerprints import Lead
from provenance.models import Trace
from provenance.thumbnails import PlacedLead
from review.models import Output, ShareLink


def serial_lookup(serial: int, *, key_version: int) -> tuple[Output, ShareLink | None] | None:
    """The output (and share link, for a link's own copy) a verified serial names, or None."""
    if is_share_link_serial(serial):
        link = (
            ShareLink.objects.select_related("output__job__owner__cohort")
            .filter(mark_serial=serial, output__mark_key_version=key_version)
            .first()
        )
        return (link.output, link) if link else None
    output = (
        Output.objects.select_related("job__owner__cohort")
        .filter(mark_serial=serial, mark_key_version=key_version)
        .first()
    )
    return (output, None) if output else None


def _when(value) -> str | None:
    return value.isoformat() if value else None


def provenance_of(output: Output, link: ShareLink | None, serial: int) -> dict[str, Any]:
    """Everything a leak responder needs about the output a mark names (JSON-ready)."""
    job, tester = output.job, output.job.owner
    links = output.share_links.order_by("created_at")
    return {
        "serial": serial,
        "output": str(output.id),
        "output_state": output.state,
        "output_created_at": _when(output.created_at),
        "job": str(job.id),
        "model": job.model_name,
        "prompt": job.prompt,
        "seed": job.seed,
        "tester_id": tester.pk,
        "tester": tester.email,
        "tester_standing": tester.standing_now,
        "cohort": tester.cohort.name if tester.cohort else None,
        "share_link": link.pk if link else None,
        "share_links": [
            {
                "id": each.pk,
                "created_at": _when(each.created_at),
                "expires_at": _when(each.expires_at),
                "revoked_at": _when(each.revoked_at),
                "views": each.view_count,
                "last_viewed_at": _when(each.last_viewed_at),
                "own_copy_marked": bool(each.mark_serial),
            }
            for each in links
        ],
    }


def traces_recent(limit: int = 50) -> QuerySet[Trace]:
    return Trace.objects.select_related("requested_by", "tester").order_by("-created_at")[:limit]


def leads_marked(output_ids: list[str]) -> list[Output]:
    """These outputs, where they carry a mark, in the order given (outputs gone are dropped)."""
    found = Output.objects.filter(mark_serial__isnull=False).in_bulk(output_ids)
    outputs = {str(key): output for key, output in found.items()}
    return [outputs[output_id] for output_id in output_ids if output_id in outputs]


def leads_described(leads: Sequence[Lead | PlacedLead]) -> list[dict[str, Any]]:
    """Each lead with its measures and its output's tester and prompt, for the page (outputs
    gone are dropped)."""
    found = Output.objects.select_related("job__owner").in_bulk([lead.output_id for lead in leads])
    outputs = {str(key): output for key, output in found.items()}
    described = []
    for lead in leads:
        output = outputs.get(lead.output_id)
        if output is None:
            continue
        described.append(
            {
                "output": lead.output_id,
                **lead.measures(),
                "tester": output.job.owner.email,
                "prompt": output.job.prompt,
            }
        )
    return described
