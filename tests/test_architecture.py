"""Structural promises: the web process never loads torch, and settings refuse unsafe values."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_json
from generation.registry import parse_model

REPO = Path(__file__).resolve().parent.parent


def _python(code: str, **env: str | None) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter; a variable given as None is left out of its env."""
    merged = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={name: value for name, value in merged.items() if value is not None},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_web_process_does_not_import_torch_or_diffusers():
    result = _python(
        "import django; django.setup();"
        "import config.urls, config.asgi, generation.tasks, generation.worker;"
        "from django.urls import resolve; resolve('/studio/');"
        "import sys, json;"
        "heavy = ('torch', 'diffusers', 'transformers');"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))"
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


PRODUCTION = {
    "VERNISSAGE_PRODUCTION": "1",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "VERNISSAGE_WATERMARK_KEY": secrets.token_urlsafe(32),
    "DJANGO_ALLOWED_HOSTS": "alpha.example.com",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/vernissage",
}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DJANGO_SECRET_KEY", "", "DJANGO_SECRET_KEY must be set"),
        ("DJANGO_SECRET_KEY", "x" * 64, "DJANGO_SECRET_KEY must be set"),
        ("DJANGO_SECRET_KEY", "django-insecure-" + "k3y" * 20, "DJANGO_SECRET_KEY must be set"),
        ("DJANGO_ALLOWED_HOSTS", "", "DJANGO_ALLOWED_HOSTS must list"),
        ("DATABASE_URL", "", "DATABASE_URL must point at PostgreSQL"),
        ("DJANGO_DEBUG", "1", "DJANGO_DEBUG must be off"),
    ],
)
def test_production_refuses_to_start_with_an_unsafe_setting(name, value, message):
    env = {**PRODUCTION, name: value}

    result = _python("import django; django.setup()", **env)

    assert result.returncode != 0 and message in result.stderr


@pytest.mark.parametrize(
    ("env", "site_url"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"VERNISSAGE_PORT": "8131"}, "http://127.0.0.1:8131"),
        ({"VERNISSAGE_HOST": "0.0.0.0", "VERNISSAGE_PORT": "8131"}, "http://127.0.0.1:8131"),  # noqa: S104
        ({"VERNISSAGE_HOST": "::1", "VERNISSAGE_PORT": "9000"}, "http://[::1]:9000"),
        (
            {"VERNISSAGE_SITE_URL": "https://alpha.example/", "VERNISSAGE_PORT": "8131"},
            "https://alpha.example",
        ),
    ],
)
def test_links_point_where_the_site_is_served(env, site_url):
    """`make run` on another port printed invitation links to port 8000."""
    code = "from django.conf import settings; print(settings.SITE_URL)"
    unset = {"VERNISSAGE_SITE_URL": None, "VERNISSAGE_PORT": None, "VERNISSAGE_HOST": None}

    result = _python(f"import django; django.setup(); {code}", **{**unset, **env})

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == site_url


def test_production_settings_pass_the_deployment_check():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env={**os.environ, **PRODUCTION},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr


_DATABASE_OPTIONS = (
    "import django; django.setup(); from django.conf import settings; import json;"
    "db = settings.DATABASES['default'];"
    "print(json.dumps([db.get('OPTIONS', {}).get('pool'), db['CONN_MAX_AGE']]))"
)
# config.asgi sets VERNISSAGE_DB_POOL in the environment of a test process that imported it.
POSTGRES = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/vernissage",
    "VERNISSAGE_DB_POOL": None,
}


def test_the_asgi_server_pools_its_connections_and_other_processes_keep_theirs():
    """The web server pools (and never keeps a connection per request thread, pooled or not);
    the worker, dispatcher and commands keep one connection for VERNISSAGE_DB_CONN_MAX_AGE."""
    unset = {**POSTGRES, "VERNISSAGE_DB_CONN_MAX_AGE": None}
    web = _python(f"import config.asgi; {_DATABASE_OPTIONS}", **unset)
    unpooled_web = _python(
        f"import config.asgi; {_DATABASE_OPTIONS}", **{**unset, "VERNISSAGE_DB_POOL": "0"}
    )
    other = _python(_DATABASE_OPTIONS, **unset)
    sqlite = _python(
        f"import config.asgi; {_DATABASE_OPTIONS}", DATABASE_URL="", VERNISSAGE_DB_CONN_MAX_AGE=None
    )

    results = (web, unpooled_web, other, sqlite)
    assert all(result.returncode == 0 for result in results), [r.stderr for r in results]
    pool, conn_max_age = json.loads(web.stdout.strip().splitlines()[-1])
    assert pool == {"min_size": 2, "max_size": 10, "timeout": 5.0} and conn_max_age == 0
    assert json.loads(unpooled_web.stdout.strip().splitlines()[-1]) == [None, 0]
    assert json.loads(other.stdout.strip().splitlines()[-1]) == [None, 300]
    assert json.loads(sqlite.stdout.strip().splitlines()[-1]) == [None, 0]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VERNISSAGE_DB_POOL_MAX_SIZE": "0"}, "VERNISSAGE_DB_POOL_MAX_SIZE=0 is below"),
        ({"VERNISSAGE_DB_POOL_MIN_SIZE": "5", "VERNISSAGE_DB_POOL_MAX_SIZE": "4"}, "is above"),
        ({"VERNISSAGE_DB_POOL_TIMEOUT": "soon"}, "VERNISSAGE_DB_POOL_TIMEOUT='soon' is not"),
    ],
)
def test_a_bad_pool_setting_stops_start_up_naming_it(env, message):
    result = _python(_DATABASE_OPTIONS, **{**POSTGRES, "VERNISSAGE_DB_POOL": "1", **env})

    assert result.returncode != 0 and message in result.stderr


@pytest.mark.parametrize(
    ("helper", "value", "message"),
    [
        (lambda: env_bool("V_TEST", False), "maybe", "is not a boolean"),
        (lambda: env_int("V_TEST", 1), "ten", "is not an integer"),
        (lambda: env_int("V_TEST", 1, minimum=1), "0", "below the minimum"),
        (lambda: env_json("V_TEST", []), "[1,", "is not valid JSON"),
    ],
)
def test_malformed_environment_values_fail_loudly_naming_the_variable(
    monkeypatch, helper, value, message
):
    monkeypatch.setenv("V_TEST", value)

    with pytest.raises(ImproperlyConfigured, match=f"V_TEST.*{message}"):
        helper()


GOOD_MODEL = {
    "name": "wan-1-3b",
    "source": "Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
    "dtype": "bfloat16",
    "device": "cuda",
    "defaults": {"num_frames": 33, "width": 832, "height": 480, "steps": 30, "guidance": 5},
    "limits": {"num_frames": 81, "width": 832, "height": 832, "steps": 50, "guidance": 12},
}


def test_a_real_checkpoint_entry_parses_into_its_own_queue():
    spec = parse_model(GOOD_MODEL, 0)

    assert (spec.queue, spec.dtype, spec.limits.num_frames) == ("gpu.wan-1-3b", "bfloat16", 81)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "Bad Name"}, "name 'Bad Name' must match"),
        ({"source": ""}, "'source'"),
        ({"dtype": "int8"}, "dtype 'int8'"),
        ({"limits": {"num_frames": 81}}, "'limits' must give exactly"),
        ({"defaults": {**GOOD_MODEL["defaults"], "steps": 99}}, "default steps exceeds"),
    ],
)
def test_a_bad_model_entry_is_refused_naming_the_problem(change, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        parse_model({**GOOD_MODEL, **change}, 0)


_REDIS_URLS = (
    "import django; django.setup(); import json; from django.conf import settings as s;"
    "print(json.dumps([s.CELERY_BROKER_URL, s.CACHES['default']['LOCATION'],"
    " s.CHANNEL_LAYERS['default']['CONFIG']['hosts'][0]['address']]))"
)
_NO_REDIS_OVERRIDES = {
    "VERNISSAGE_BROKER_URL": None,
    "CELERY_BROKER_URL": None,
    "VERNISSAGE_CACHE_URL": None,
    "VERNISSAGE_CHANNELS_URL": None,
}


def test_broker_cache_and_channel_layer_share_redis_url_by_default():
    result = _python(_REDIS_URLS, REDIS_URL="redis://one:6379/3", **_NO_REDIS_OVERRIDES)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == ["redis://one:6379/3"] * 3


def test_broker_cache_and_channel_layer_each_take_their_own_url():
    result = _python(
        _REDIS_URLS,
        **{
            **_NO_REDIS_OVERRIDES,
            "REDIS_URL": "redis://one:6379/3",
            "VERNISSAGE_BROKER_URL": "redis://broker:6379/0",
            "VERNISSAGE_CACHE_URL": "redis://cache:6379/1",
            "VERNISSAGE_CHANNELS_URL": "redis://channels:6379/2",
        },
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [
        "redis://broker:6379/0",
        "redis://cache:6379/1",
        "redis://channels:6379/2",
    ]
