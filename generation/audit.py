"""Audit action names of the generation app (see `access.audit`)."""

from access.audit import register

JOB_CANCELLED = register("generation.job.cancelled", "Job cancelled by staff")
