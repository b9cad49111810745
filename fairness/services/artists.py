"""The artist's own settings and data: training preference, credit, and their archive."""

from __future__ import annotations

import json
import tempfile
import zipfile
from typing import IO, Any
from urllib.parse import urlsplit

from django.core.files.storage import storages
from django.db import transaction

from access.models import User
from access.services import audit_record
from fairness import audit
from fairness.models import JobTrainingRecord, TrainingPreference
from fairness.selectors import approved_outputs_of, training_opted_in_subquery
from fairness.services.common import FairnessError
from generation.models import Job

CREDIT_NAME_MAX_CHARS = 80
CREDIT_URL_MAX_CHARS = 300


def training_preference_set(*, user: User, opted_in: bool) -> TrainingPreference:
    """Applies to jobs submitted from now on; each earlier job keeps the value it recorded."""
    with transaction.atomic():
        preference, _ = TrainingPreference.objects.update_or_create(
            user=user, defaults={"opted_in": opted_in}
        )
        audit_record(
            action=audit.TRAINING_PREFERENCE_SET,
            actor=user,
            target=user,
            details={"opted_in": opted_in},
        )
    return preference


def job_training_record(
    sender: type[Job], instance: Job, created: bool, raw: bool = False, **_: Any
):
    """`post_save` of Job: record the owner's training preference in force at submission, in the
    transaction that writes the job (the studio, the API and the admin alike)."""
    if created and not raw:
        # One INSERT … SELECT (every submission pays for this). By id, not `job=instance`: the
        # row is not cached on the job with its `opted_in` still an unevaluated expression.
        JobTrainingRecord.objects.create(
            job_id=instance.pk, opted_in=training_opted_in_subquery(instance.owner_id)
        )


def credit_set(*, user: User, name: str, url: str) -> User:
    """The name (and optional https link) that share pages, the gallery and exports show."""
    name, url = (name or "").strip(), (url or "").strip()
    if len(name) > CREDIT_NAME_MAX_CHARS:
        raise FairnessError(f"The credit name is limited to {CREDIT_NAME_MAX_CHARS} characters.")
    if url and (urlsplit(url).scheme != "https" or not urlsplit(url).hostname):
        raise FairnessError("The credit link must be an https:// address.")
    if len(url) > CREDIT_URL_MAX_CHARS:
        raise FairnessError(f"The credit link is limited to {CREDIT_URL_MAX_CHARS} characters.")
    with transaction.atomic():
        before = {"name": user.display_name, "url": user.credit_url}
        User.objects.filter(pk=user.pk).update(display_name=name, credit_url=url)
        user.display_name, user.credit_url = name, url
        audit_record(
            action=audit.CREDIT_SET,
            actor=user,
            target=user,
            details={"before": before, "after": {"name": name, "url": url}},
        )
    return user


def _metadata(output) -> dict[str, Any]:
    job = output.job
    return {
        "output": str(output.id),
        "prompt": job.prompt,
        "negative_prompt": job.negative_prompt,
        "model": job.model_name,
        "seed": job.seed,
        "num_frames": job.num_frames,
        "width": job.width,
        "height": job.height,
        "steps": job.steps,
        "guidance": job.guidance,
        "fps": output.fps,
        "sha256": output.sha256,
        "submitted_at": job.created_at.isoformat(),
        "approved_at": output.decided_at.isoformat() if output.decided_at else None,
    }


def artist_archive(*, user: User) -> IO[bytes]:
    """One zip of the artist's approved outputs: each video, poster and its prompt and parameters
    (`<output>/metadata.json`), plus `index.json`. Returned rewound, as a temporary file.
    A read of the artist's own data: nothing is written, so nothing is audited."""
    storage = storages["outputs"]
    # Handed to the response, which closes (and so deletes) it once sent.
    archive = tempfile.TemporaryFile()  # noqa: SIM115
    outputs = list(approved_outputs_of(user))
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zipped:
        for output in outputs:
            with storage.open(output.video_name, "rb") as video:
                zipped.writestr(f"{output.id}/video.mp4", video.read())
            with storage.open(output.poster_name, "rb") as poster:
                zipped.writestr(f"{output.id}/poster.jpg", poster.read())
            zipped.writestr(f"{output.id}/metadata.json", json.dumps(_metadata(output), indent=2))
        index = {"artist": user.credit, "outputs": [str(output.id) for output in outputs]}
        zipped.writestr("index.json", json.dumps(index, indent=2))
    archive.seek(0)
    return archive
