"""What one progress send costs a worker or the dispatcher (code with no event loop of its own).

Sends the same event to a group over the real Redis channel layer N times two ways: through
`realtime.publisher` (one long-lived event loop per process, so one set of Redis connections),
and the way it used to be, `async_to_sync(layer.group_send)` (a new event loop, thread and
connections for every send). Prints p50/p95 per send and the ratio; the last line is JSON.

    python bench/publish.py [--sends 300]   # REDIS_URL, default the test Redis database
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import _django  # noqa: F401 (settings, the repository on sys.path)


def timed(send, sends: int) -> list[float]:
    times = []
    for _ in range(sends):
        started = time.perf_counter()
        send()
        times.append((time.perf_counter() - started) * 1000)
    return times


def summary(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sends", type=int, default=300)
    args = parser.parse_args()
    import django

    django.setup()
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from realtime.events import ReviewItemEvent
    from realtime.publisher import publish

    event = ReviewItemEvent(id="bench", state="pending", claimed_by="", approvals=0)
    group = "bench.publish"
    layer = get_channel_layer()
    publish(event, groups=[group])  # warm: the loop and its connections exist before timing
    kept = timed(lambda: publish(event, groups=[group]), args.sends)
    fresh = timed(lambda: async_to_sync(layer.group_send)(group, event.layer_message()), args.sends)
    (kept50, kept95), (fresh50, fresh95) = summary(kept), summary(fresh)
    print(f"{'per send':<28}{'p50 ms':>10}{'p95 ms':>10}")
    print(f"{'one long-lived loop':<28}{kept50:>10.2f}{kept95:>10.2f}")
    print(f"{'new loop per send (before)':<28}{fresh50:>10.2f}{fresh95:>10.2f}")
    print(f"ratio before/after p50: {fresh50 / kept50:.1f}x")
    result = {
        "sends": args.sends,
        "p50_ms": round(kept50, 3),
        "p95_ms": round(kept95, 3),
        "before_p50_ms": round(fresh50, 3),
        "before_p95_ms": round(fresh95, 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
