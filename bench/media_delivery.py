"""What delivering one output costs the web process: a share-page view, and a 32 MiB range of a
64 MiB video through the development path (local storage, Python sending).

Prints the median time of a share-page view and, for the range request, the time and the peak of
Python memory allocated while the answer is produced and sent; ends with one JSON line.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/vernissage \
        .venv/bin/python bench/media_delivery.py
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import time
import tracemalloc
from datetime import timedelta

from _django import setup_django_with_bench_db

VIDEO_BYTES = 64 << 20
RANGE_BYTES = 32 << 20
VIEWS = 20


def _output_with_a_big_file():
    from django.conf import settings
    from django.utils import timezone

    from access.models import Cohort, User
    from access.roles import TESTERS, role_grant
    from generation.models import Job
    from review.models import Output

    cohort = Cohort.objects.create(
        name="Bench", model_names=["demo"], ends_at=timezone.now() + timedelta(days=30)
    )
    owner = User.objects.create_user(username="b@example.com", email="b@example.com", cohort=cohort)
    role_grant(user=owner, role=TESTERS)
    job = Job.objects.create(
        owner=owner, model_name="demo", prompt="a bench", seed=1, num_frames=5, width=32,
        height=32, steps=4, guidance=5.0, state=Job.State.SUCCEEDED,
    )  # fmt: skip
    folder = settings.OUTPUTS_DIR / str(owner.id) / str(job.id) / "1"
    folder.mkdir(parents=True, exist_ok=True)
    data = os.urandom(VIDEO_BYTES)
    (folder / "video.mp4").write_bytes(data)
    (folder / "poster.jpg").write_bytes(b"jpg")
    digest = hashlib.sha256(data).hexdigest()
    output = Output.objects.create(
        job=job, video_name=f"{owner.id}/{job.id}/1/video.mp4",
        poster_name=f"{owner.id}/{job.id}/1/poster.jpg", sha256=digest, approved_sha256=digest,
        size_bytes=VIDEO_BYTES, width=32, height=32, num_frames=5, fps=8,
        state=Output.State.APPROVED, decided_at=timezone.now(),
    )  # fmt: skip
    return owner, output


def main() -> None:
    teardown = setup_django_with_bench_db()
    from django.conf import settings
    from django.test import Client
    from django.urls import reverse

    from review.services import share_link_create

    try:
        owner, output = _output_with_a_big_file()
        link = share_link_create(output=output, by=owner)
        page = reverse("shared_page", kwargs={"token": link.token})
        client = Client(headers={"host": "127.0.0.1"})  # an allowed host (DEBUG is off)
        views = []
        for _ in range(VIEWS):
            started = time.perf_counter()
            assert client.get(page).status_code == 200
            views.append((time.perf_counter() - started) * 1000)
        client.force_login(owner)
        video = reverse("output_video", kwargs={"output_id": output.id})
        tracemalloc.start()
        started = time.perf_counter()
        response = client.get(video, headers={"Range": f"bytes=0-{RANGE_BYTES - 1}"})
        body = response.streaming_content if response.streaming else [response.content]
        sent = sum(len(chunk) for chunk in body)
        range_ms = (time.perf_counter() - started) * 1000
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert response.status_code == 206 and sent == RANGE_BYTES
    finally:
        teardown()
        shutil.rmtree(settings.OUTPUTS_DIR, ignore_errors=True)
    result = {
        "share_page_view_ms_median": round(statistics.median(views), 1),
        "range_32mib_ms": round(range_ms, 1),
        "range_32mib_peak_python_mib": round(peak / (1 << 20), 2),
        "load_average_1m": os.getloadavg()[0],
    }
    median = result["share_page_view_ms_median"]
    print(f"share page view (64 MiB video), median of {VIEWS}: {median} ms")
    print(f"32 MiB range: {result['range_32mib_ms']} ms, peak Python memory "
          f"{result['range_32mib_peak_python_mib']} MiB")  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
