"""Querysets compiled to SQL once per process, for the few queries every API request runs.

Django compiles a queryset to SQL each time it is evaluated. For the token lookup (the token with
its user and cohort, and the kill switch) that took 1.3 ms of CPU on this machine against well
under a millisecond for PostgreSQL to answer it, and every API request pays it; the submission's
permission, terms and quota queries add as much again. A `PreparedQuery` builds its queryset once
with marker values in place of its parameters, compiles it, remembers which SQL parameters are
markers, and afterwards runs the same SQL with each call's values through the compiler Django
built, so instances, `select_related` objects, annotations and field converters come out as the
queryset itself would give them (tests/access/test_prepared.py compares the two).

Parameters are `str`, `int` or aware `datetime` values passed to plain comparisons (`=`, `<`,
`IN` of one, ...): a lookup that rewrites its value (`icontains` wraps it in `%`) would leave the
marker out of the parameters, which fails loudly when the query is first compiled.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import TransactionManagementError

M = TypeVar("M", bound=Model)

ParameterType = type[str] | type[int] | type[datetime]

# Values no caller passes: negative (never a primary key) and inside a 32-bit column's range.
_INT_MARKER_BASE = -2_000_000_000
_DATETIME_MARKER_BASE = datetime(1901, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class _Compiled:
    alias: str
    sql: str
    params: tuple[Any, ...]
    slots: tuple[str | None, ...]  # per SQL parameter: the name of the call's value, or None
    compiler: SQLCompiler
    for_update: bool
    # For querysets of model instances (None for values_list): the model's columns in each row
    # and its attribute names, and the populators of its select_related objects.
    columns: slice | None
    attnames: list[str]
    related: list[Any]


class PreparedQuery(Generic[M]):
    """`build(**markers)` returns the queryset; `PreparedQuery(build, prefix=str)` declares its
    parameters and their types. `objects(...)` gives model instances, `rows(...)` the tuples of a
    `values_list()` queryset."""

    def __init__(self, build: Callable[..., QuerySet[M, Any]], **parameters: ParameterType):
        self._build = build
        self._types = parameters
        self._compiled: _Compiled | None = None
        self._lock = threading.Lock()

    def objects(self, **values: Any) -> list[M]:
        compiled = self._get()
        assert compiled.columns is not None, "objects() needs a queryset of model instances"
        compiler, rows = self._run(compiled, values)
        model: type[M] = compiler.klass_info["model"]
        found = []
        for row in rows:
            obj = model.from_db(compiled.alias, compiled.attnames, row[compiled.columns])
            for populator in compiled.related:
                populator.populate(row, obj)
            for name, position in (compiler.annotation_col_map or {}).items():
                setattr(obj, name, row[position])
            found.append(obj)
        return found

    def rows(self, **values: Any) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self._run(self._get(), values)[1]]

    def _get(self) -> _Compiled:
        if self._compiled is None:
            with self._lock:
                if self._compiled is None:
                    self._compiled = self._compile()
        return self._compiled

    def _compile(self) -> _Compiled:
        markers = {name: _marker(kind, n) for n, (name, kind) in enumerate(self._types.items())}
        queryset = self._build(**markers)
        alias = queryset.db
        connection = connections[alias]
        compiler = queryset.query.get_compiler(using=alias)
        # A select_for_update queryset compiles only inside a transaction (as_sql checks it);
        # _run repeats that check on every call.
        sql, params = compiler.as_sql()
        prepared = {name: _prepare(value, connection) for name, value in markers.items()}
        slots = tuple(_slot(param, prepared) for param in params)
        missing = set(markers) - set(slots)
        if missing:
            raise ValueError(f"Not plain SQL parameters of the query: {sorted(missing)}")
        compiler.connection = None  # each call uses its own thread's connection
        columns, attnames, related = None, [], []
        if compiler.klass_info is not None:
            fields = compiler.klass_info["select_fields"]
            columns = slice(fields[0], fields[-1] + 1)
            attnames = [column[0].target.attname for column in compiler.select[columns]]
            # Django 5.2's signature (the stubs follow a later release's).
            related = get_related_populators(compiler.klass_info, compiler.select, alias)  # type: ignore[call-arg]
        return _Compiled(
            alias,
            sql,
            tuple(params),
            slots,
            compiler,
            queryset.query.select_for_update,
            columns,
            attnames,
            related,
        )

    def _run(self, compiled: _Compiled, values: dict[str, Any]) -> tuple[SQLCompiler, list]:
        self._check(values)
        connection = connections[compiled.alias]
        if compiled.for_update and connection.get_autocommit():
            raise TransactionManagementError(
                "select_for_update cannot be used outside of a transaction."
            )
        prepared = {name: _prepare(value, connection) for name, value in values.items()}
        params = [
            param if slot is None else prepared[slot]
            for param, slot in zip(compiled.params, compiled.slots, strict=True)
        ]
        compiler = copy.copy(compiled.compiler)
        compiler.connection = connection
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            fetched = cursor.fetchall()
        if compiler.has_extra_select:
            fetched = [row[: compiler.col_count] for row in fetched]
        return compiler, list(compiler.results_iter(results=[fetched]))

    def _check(self, values: dict[str, Any]) -> None:
        if values.keys() != self._types.keys():
            raise TypeError(f"Expected the values {sorted(self._types)}, got {sorted(values)}")
        for name, value in values.items():
            kind = self._types[name]
            if type(value) is not kind and not (kind is datetime and isinstance(value, datetime)):
                raise TypeError(f"{name} must be {kind.__name__}, not {type(value).__name__}")


def _marker(kind: ParameterType, n: int) -> Any:
    if kind is str:
        return f"\x1fprepared-{n}\x1f"
    if kind is int:
        return _INT_MARKER_BASE - n
    if kind is datetime:
        return _DATETIME_MARKER_BASE + timedelta(seconds=n)
    raise TypeError(f"Unsupported parameter type {kind!r}")


def _prepare(value: Any, connection: Any) -> Any:
    """A value as a DateTimeField hands it to the database (a string on SQLite)."""
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    return value


def _slot(param: Any, prepared: dict[str, Any]) -> str | None:
    for name, marker in prepared.items():
        if type(param) is type(marker) and param == marker:
            return name
    return None
