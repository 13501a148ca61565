"""Precompiled single-row statements for the purchase path, built from model metadata.

Why this exists: on the POS purchase path Django's query compiler, not the database, was
the biggest cost. Building and compiling a QuerySet takes 0.3–0.8 ms of CPU per
statement; sending the finished SQL on the cursor takes about 0.1 ms (measured in
``bench/bench_django.py profile``). A purchase runs about a dozen statements, so the
compiler alone capped a 2-core till server at roughly half its possible rate.

The helpers here build each statement's SQL text once per model and database vendor,
from ``Model._meta``, and convert values exactly as the ORM does (``get_db_prep_save`` on
the way in, the backend's and field's converters on the way out). The models stay the
one source of truth: a new column appears in these statements by itself.

Rules for callers:
- use them only where a profile shows the ORM's cost matters (the purchase path);
  everywhere else the ORM is clearer;
- they send no model signals, which is why only models without ``post_save`` receivers
  go through ``row_insert`` (``tests/common/test_rowsql.py`` checks the ones used);
- WHERE clauses are the caller's SQL with ``%s`` placeholders: values always go as
  parameters, never into the text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache, wraps
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model

M = TypeVar("M", bound=Model)
Converter = Callable[[Any, Any, Any], Any]


def _db() -> BaseDatabaseWrapper:
    # Looked up once per call: every attribute read through ``django.db.connection`` is a
    # thread-local lookup, and a row's values touch the connection once per field.
    return connections[DEFAULT_DB_ALIAS]


def quote(name: str) -> str:
    return _db().ops.quote_name(name)


def table(model: type[Model]) -> str:
    return quote(model._meta.db_table)


def column(field: Any) -> str:
    """The quoted column of a concrete field (django-stubs types ``column`` as optional)."""
    name = field.column
    assert name is not None, f"{field} has no column"
    return quote(name)


def _pk_column(model: type[Model]) -> str:
    pk = model._meta.pk
    assert pk is not None
    return column(pk)


def statement(build: Callable[..., str]) -> Callable[..., str]:
    """Cache a function that builds SQL text, per database vendor and arguments.

    The text depends on the vendor (quoting, ``FOR UPDATE``); its arguments must be
    hashable, and never values from a request.
    """
    built = cache(lambda vendor, *args: build(*args))

    @wraps(build)
    def cached(*args: Any) -> str:
        return built(_db().vendor, *args)

    return cached


@cache
def _insert_fields(model: type[Model]) -> list[Field[Any, Any]]:
    return [f for f in model._meta.concrete_fields if not f.primary_key]


@statement
def _insert_sql(model: type[Model], rows: int, returning_pk: bool) -> str:
    fields = _insert_fields(model)
    columns = ", ".join(column(f) for f in fields)
    values = ", ".join(["(" + ", ".join(["%s"] * len(fields)) + ")"] * rows)
    returning = f" RETURNING {_pk_column(model)}" if returning_pk else ""
    return f"INSERT INTO {table(model)} ({columns}) VALUES {values}{returning}"  # noqa: S608


def _row_values(obj: Model, db: BaseDatabaseWrapper) -> list[Any]:
    # As SQLInsertCompiler does: pre_save fills auto_now_add and the like, then each value
    # is adapted for this connection.
    return [
        f.get_db_prep_save(f.pre_save(obj, True), connection=db) for f in _insert_fields(type(obj))
    ]


def row_insert(obj: Model) -> None:
    """INSERT ``obj`` (every concrete field but the primary key) and set its new pk."""
    db = _db()
    with db.cursor() as cursor:
        cursor.execute(_insert_sql(type(obj), 1, True), _row_values(obj, db))
        obj.pk = cursor.fetchone()[0]
    obj._state.adding = False
    obj._state.db = db.alias


def rows_insert(objs: Sequence[Model]) -> None:
    """INSERT several rows of one model in one statement. Their pks are not read back."""
    if not objs:
        return
    db = _db()
    params: list[Any] = []
    for obj in objs:
        params.extend(_row_values(obj, db))
    with db.cursor() as cursor:
        cursor.execute(_insert_sql(type(objs[0]), len(objs), False), params)


@cache
def _converters(field: Field[Any, Any], vendor: str) -> tuple[Any, tuple[Converter, ...]]:
    """The column expression and the converters the ORM applies to values read from it."""
    db = _db()
    column = field.get_col(field.model._meta.db_table)
    backend = db.ops.get_db_converters(column)
    return column, tuple(backend) + tuple(field.get_db_converters(db))


class RowReader:
    """Reads rows of ``model`` (and optionally one foreign key's target, joined) into
    model instances, as ``QuerySet.select_related`` would.

    ``reader.columns`` is the SELECT list to put in the caller's SQL; its aliases are
    ``alias`` for the model and ``related_alias`` for the joined model.
    """

    def __init__(
        self,
        model: type[M],
        alias: str,
        *,
        related: str | None = None,
        related_alias: str = "",
    ) -> None:
        self.model = model
        self.alias = alias
        self.fields = list(model._meta.concrete_fields)
        self.related_field = model._meta.get_field(related) if related else None
        self.related_alias = related_alias
        self.related_fields = (
            list(self.related_field.related_model._meta.concrete_fields)  # type: ignore[union-attr]
            if self.related_field
            else []
        )
        self.attnames = [f.attname for f in self.fields]
        self.related_attnames = [f.attname for f in self.related_fields]

    @property
    def columns(self) -> str:
        return _columns(
            self.alias, tuple(self.fields), self.related_alias, tuple(self.related_fields)
        )

    def _build(
        self,
        model: type[Model],
        fields: list[Field[Any, Any]],
        attnames: list[str],
        values: Sequence[Any],
        db: BaseDatabaseWrapper,
    ) -> Model:
        vendor = db.vendor
        converted = []
        for field, value in zip(fields, values, strict=True):
            column, converters = _converters(field, vendor)
            for convert in converters:
                value = convert(value, column, db)
            converted.append(value)
        return model.from_db(db.alias, attnames, converted)

    @property
    def width(self) -> int:
        """How many leading columns of a row ``build`` reads; later ones are the caller's."""
        return len(self.fields) + len(self.related_fields)

    def build(self, row: Sequence[Any]) -> Any:
        """The instance for one row whose leading columns are ``self.columns``."""
        db = _db()
        own_count = len(self.fields)
        obj = self._build(self.model, self.fields, self.attnames, row[:own_count], db)
        if self.related_field is not None:
            joined = row[own_count : self.width]
            target = (
                None
                if joined[0] is None  # the pk: NULL when the LEFT JOIN found nothing
                else self._build(
                    self.related_field.related_model,  # type: ignore[arg-type]
                    self.related_fields,
                    self.related_attnames,
                    joined,
                    db,
                )
            )
            self.related_field.set_cached_value(obj, target)  # type: ignore[union-attr]
        return obj

    def fetch_first(self, sql: str, params: Sequence[Any]) -> Any | None:
        """Run ``sql`` (whose SELECT list starts with ``self.columns``) and build its first row."""
        with _db().cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        return None if row is None else self.build(row)


@statement
def _columns(
    alias: str,
    fields: tuple[Field[Any, Any], ...],
    related_alias: str,
    related_fields: tuple[Field[Any, Any], ...],
) -> str:
    own = [f"{quote(alias)}.{column(f)}" for f in fields]
    joined = [f"{quote(related_alias)}.{column(f)}" for f in related_fields]
    return ", ".join(own + joined)


def for_update_of(alias: str) -> str:
    """``FOR UPDATE OF alias`` where the database has row locks; SQLite locks the whole
    database for a write transaction and has no such clause."""
    features = _db().features
    if not features.has_select_for_update:
        return ""
    if features.has_select_for_update_of:
        return f" FOR UPDATE OF {quote(alias)}"
    return " FOR UPDATE"


def execute(sql: str, params: Sequence[Any]) -> int:
    """Run a write statement; return the number of rows it changed."""
    with _db().cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def fetch_value(sql: str, params: Sequence[Any]) -> Any:
    """The first column of the first row, or None when there is no row."""
    with _db().cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else row[0]


@statement
def _update_sql(model: type[Model], field_names: tuple[str, ...]) -> str:
    assignments = ", ".join(f"{column(model._meta.get_field(n))} = %s" for n in field_names)
    return f"UPDATE {table(model)} SET {assignments} WHERE {_pk_column(model)} = %s"  # noqa: S608


def row_update(obj: Model, field_names: Sequence[str]) -> int:
    """``obj.save(update_fields=field_names)`` without signals or the compiler (nor
    ``auto_now``: name such a field and set it yourself); returns the number of rows
    changed, 0 when the row is gone."""
    db = _db()
    model = type(obj)
    names = tuple(field_names)
    params = [
        model._meta.get_field(n).get_db_prep_save(getattr(obj, n), connection=db)  # type: ignore[union-attr]
        for n in names
    ]
    return execute(_update_sql(model, names), [*params, obj.pk])
