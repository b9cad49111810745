"""Audit action names of the provenance app (see `access.audit`)."""

from access.audit import register

TRACE_REQUESTED = register("provenance.trace.requested", "Leak trace requested")
TRACE_FINISHED = register("provenance.trace.finished", "Leak trace finished")
