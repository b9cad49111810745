"""Settings for the test suite: the real settings, pointed at isolated Redis keys and folders.

Set as environment defaults before the real settings read them, so subprocesses the tests start
(Celery worker, ASGI server) get the same values by using this module too.
"""

import os

os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/9")


def _own_redis_database_per_xdist_worker() -> None:
    """`make test` runs two pytest-xdist workers: each gets the next Redis database (gw1: +1),
    so their Celery queues, channel groups and caches never meet. Subprocesses inherit the
    rewritten URL and the marker, and do not shift it again."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw") or os.environ.get("VERNISSAGE_TEST_WORKER") == worker:
        return
    base, _, db = os.environ["REDIS_URL"].rpartition("/")
    os.environ["REDIS_URL"] = f"{base}/{(int(db or 0) + int(worker[2:])) % 16}"
    os.environ["VERNISSAGE_TEST_WORKER"] = worker
    os.environ["VERNISSAGE_TEST_RUN"] = f"{os.getpid()}-{worker}"  # its own outputs folder


_own_redis_database_per_xdist_worker()
os.environ.setdefault("VERNISSAGE_CACHE_PREFIX", "vernissage-test")
os.environ.setdefault("VERNISSAGE_CHANNEL_PREFIX", "vernissage-test")
# The suite's walks send thousands of requests as one user: rates far above them. The throttle
# tests (tests/api/test_throttling.py) set small rates of their own.
os.environ.setdefault(
    "API_THROTTLE_RATES", '{"api": "100000/minute", "job_submit": "100000/minute"}'
)

from config.settings import *  # noqa: E402, F403 (after the environment defaults above)
from config.settings import DATA_DIR  # noqa: E402

# One folder per test run (subprocesses inherit the variable), so runs never delete each other's.
_RUN = os.environ.setdefault("VERNISSAGE_TEST_RUN", str(os.getpid()))
OUTPUTS_DIR = DATA_DIR / f"test-outputs-{_RUN}"
if OUTPUTS_STORAGE == "local":  # noqa: F405 (with s3, the bucket the test's server made)
    STORAGES["outputs"]["OPTIONS"]["location"] = str(OUTPUTS_DIR)  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast, tests only
# One development C2PA signer for every test run (made on first use), not `make run`'s.
C2PA_DIR = DATA_DIR / "test-c2pa"
C2PA_CERT_PATH = C2PA_DIR / "signer-chain.pem"
C2PA_KEY_PATH = C2PA_DIR / "signer-key.pem"
