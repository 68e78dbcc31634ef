"""The pieces every dealer-side page is built from, one copy each.

- ``ServiceFormMixin``: a form view whose ``form_valid`` hands the cleaned data to a service
  and puts the service's ``ValidationError`` on the form (``add_service_errors``).
- ``FilteredListMixin`` with ``DealerFilterSet``: a list with the filter bar
  (``templates/_filter_bar.html``), its query string kept across pages (``_pagination.html``)
  and exports, paged by ``ListPaginator`` (the last page as cheap as the first).
- ``code_url``: the address of each row's page in a long list, with one ``reverse()``.
- ``fetch_together``: several querysets read in one round trip to PostgreSQL.
- ``PreparedReads``: querysets compiled to SQL once and prepared on the server, then read (in one
  round trip) with other values: for the pages an operator waits on.
- ``RowsInsert``: a model's INSERT built once, its rows' values prepared as Django prepares
  them, so that several inserts can go in one round trip: for the alarm's path.
- The row-action cell is the ``row_actions`` template tag (``dealers/templatetags/dealer_ui.py``).

They live here, in the lowest app, so that every app above may use them.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import re
import threading
import uuid
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django.contrib import messages
from django.core.exceptions import EmptyResultSet, ValidationError
from django.core.paginator import Page, Paginator
from django.db import DatabaseError, connections
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import Model, QuerySet
from django.db.models.sql.constants import MULTI
from django.http import HttpResponse, QueryDict
from django.shortcuts import redirect
from django.urls import reverse

from dealers.models import Dealer

# --- "call the service, put its errors on the form" -------------------------------------------


def add_service_errors(form: forms.BaseForm, exc: ValidationError) -> None:
    """Put a service's errors on the form: on their field if the form has it, else on top."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)


class ServiceFormMixin:
    """``form_valid`` calls ``perform(form)`` (a service); its ValidationError lands on the form.

    On success: ``success_message`` (formatted with ``obj``, what ``perform`` returned) and a
    redirect to ``get_success_url_for(obj)`` (by default the view's ``get_success_url()``).
    """

    success_message = "Saved."

    def form_valid(self, form: forms.BaseForm) -> HttpResponse:
        try:
            obj = self.perform(form)
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, self.success_message.format(obj=obj))
        return redirect(self.get_success_url_for(obj))

    def perform(self, form: forms.BaseForm) -> Any:
        raise NotImplementedError

    def get_success_url_for(self, obj: Any) -> str:
        return self.get_success_url()


# --- paging -----------------------------------------------------------------------------------

# The last ORDER BY term that makes an order total (no two rows tie), so it can be reversed.
_TIE_BREAKERS = {"id", "-id", "pk", "-pk"}


class ListPaginator(Paginator):
    """Django's paginator, except that a page nearer the end of a list is read from the end.

    ``OFFSET n`` makes the database read and throw away the n rows it skips, so on a list of
    10,000 the last page costs 200 first pages. A page in the second half is read with the
    order reversed and the offset counted from the end, then put back in order: the pages at
    either end cost the same, and no page costs more than the middle one. It needs a total
    order (ending in the primary key, as the lists' orders do); any other list is paged as
    Django pages it.
    """

    def page(self, number: int | str) -> Page:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        from_end = self.count - top
        if from_end >= bottom or not self._reversible():
            return super().page(number)
        rows = list(self.object_list.reverse()[from_end : self.count - bottom])
        rows.reverse()
        return self._get_page(rows, number, self)

    def _reversible(self) -> bool:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet) or not queryset.ordered:
            return False
        order = queryset.query.order_by or queryset.model._meta.ordering
        return bool(order) and isinstance(order[-1], str) and order[-1] in _TIE_BREAKERS


def code_url(view_name: str) -> Callable[[uuid.UUID], str]:
    """``reverse(view_name, args=[code])`` for many codes, from one ``reverse()``.

    For a view whose only argument is a ``<uuid:...>`` code (the address holds the code as
    ``str(code)``). A list of 50 rows spends a third of its rendering in ``{% url %}``
    otherwise: each ``reverse()`` walks the resolver again.
    """
    marker = uuid.UUID(int=0)
    head, tail = reverse(view_name, args=[marker]).split(str(marker))
    return lambda code: f"{head}{code}{tail}"


# --- the list filter bar ------------------------------------------------------------------


class DealerFilterSet(django_filters.FilterSet):
    """A list's filters, narrowed to one dealer (``dealer=``), drawn by ``_filter_bar.html``.

    ``defaults`` fills parameters absent from the query string (e.g. the customer list shows
    active sites unless asked otherwise). Widgets get Bootstrap's classes here, once.
    """

    defaults: dict[str, str] = {}

    def __init__(self, data: QueryDict | None = None, *args: Any, dealer: Dealer, **kwargs: Any):
        data = data.copy() if data is not None else QueryDict(mutable=True)
        for name, value in self.defaults.items():
            data.setdefault(name, value)
        self.dealer = dealer
        super().__init__(data, *args, **kwargs)
        for field in self.form.fields.values():
            widget = field.widget
            css = "form-select" if isinstance(widget, forms.Select) else "form-control"
            widget.attrs.setdefault("class", css)
            if field.label:
                widget.attrs.setdefault("aria-label", field.label)

    @property
    def cleaned(self) -> dict[str, Any]:
        """The valid filter values (an invalid one, e.g. another dealer's record, is ignored)."""
        self.form.is_valid()
        return getattr(self.form, "cleaned_data", {})


class FilteredListMixin:
    """A ListView with the filter bar: ``filterset_class`` filters ``get_base_queryset()``.

    The context gets ``filter`` (the filter set, for ``_filter_bar.html``) and ``querystring``
    (the filters without the page, for ``_pagination.html`` and export links).
    """

    filterset_class: type[DealerFilterSet]
    dealer: Dealer
    paginator_class = ListPaginator

    def get_base_queryset(self):
        raise NotImplementedError

    def get_filterset(self) -> DealerFilterSet:
        return self.filterset_class(
            self.request.GET, queryset=self.get_base_queryset(), dealer=self.dealer
        )

    def get_queryset(self):
        self.filterset = self.get_filterset()
        return self.filterset.qs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        query.pop("page", None)
        context["filter"] = self.filterset
        context["querystring"] = query.urlencode()
        return context


def fetch_together(*querysets: QuerySet) -> None:
    """Evaluate ``querysets`` in one round trip to the database, as if each were listed.

    A page that reads a handful of independent things pays a round trip for each: on a busy
    machine that is most of its time. On PostgreSQL the statements go in one ``execute``
    (Django's psycopg cursors bind parameters on the client, so several statements may share
    a call) and each result set fills its queryset's cache, through the queryset's own row
    handling (``select_related``, ``values_list``, converters); afterwards each queryset is
    used as usual and runs no query of its own. Elsewhere they are evaluated one by one.
    All must use the same database; ``prefetch_related`` lookups still run their own queries.
    """
    pending = [qs for qs in querysets if qs._result_cache is None]
    if not pending:
        return
    connection = connections[pending[0].db]
    if connection.vendor != "postgresql" or len(pending) == 1:
        for qs in pending:
            qs._fetch_all()
        return
    compiled = []
    for qs in pending:
        compiler = qs.query.get_compiler(using=qs.db)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:
            qs._result_cache = []
            continue
        compiled.append((qs, compiler, sql, params))
    if not compiled:
        return
    results: list[list[tuple]] = []
    with connection.cursor() as cursor:
        cursor.execute(
            ";\n".join(sql for _, _, sql, _ in compiled),
            [param for _, _, _, params in compiled for param in params],
        )
        for number in range(len(compiled)):
            if number:
                cursor.nextset()
            results.append(cursor.fetchall())
    for (qs, compiler, _, _), rows in zip(compiled, results, strict=True):
        if compiler.has_extra_select:
            rows = [row[: compiler.col_count] for row in rows]
        # The queryset's own iterable turns the rows into what it yields, asking this compiler
        # (already set up by as_sql) for them instead of running its query.
        compiler.execute_sql = lambda result_type=MULTI, *args, _rows=rows, **kwargs: iter([_rows])
        qs.query.get_compiler = lambda *args, _compiler=compiler, **kwargs: _compiler
        try:
            qs._fetch_all()
        finally:
            del qs.query.get_compiler


# --- prepared reads ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Compiled:
    """One queryset as SQL: its compiler (set up by ``as_sql``, never run) and where each of
    the caller's values goes among the parameters."""

    queryset: QuerySet
    compiler: Any
    sql: str
    params: tuple
    slots: tuple[tuple[int, str], ...]  # (parameter index, name of the value)
    # For PREPARE: the SQL with the values as $1, $2 ... (the names, in that order) and every
    # other parameter written in as a literal, so that the planner still sees the constants
    # (a partial index's condition, say) in the plan it keeps.
    body: str
    names: tuple[str, ...]
    converters: dict  # the compiler's get_converters() for its columns


@dataclass
class _Session:
    """The statements this process prepared in one PostgreSQL session. After a failed round
    trip that prepared some, the next ones get new names (``generation``)."""

    prepared: set[str] = dataclasses.field(default_factory=set)
    generation: int = 0


# By psycopg connection: a session lives as long as its connection, through the pool too.
_sessions: weakref.WeakKeyDictionary[Any, _Session] = weakref.WeakKeyDictionary()
_reads_numbers = itertools.count(1)


class _Answered:
    """What an ORM iterable asks of its queryset (``db``, ``query.get_compiler``, ...),
    answered with a compiler that hands back rows already read."""

    def __init__(self, queryset: QuerySet, compiler: Any) -> None:
        self._queryset = queryset
        self._compiler = compiler
        self.db = queryset.db
        self.model = queryset.model
        self._fields = queryset._fields
        self._known_related_objects: dict = {}
        self.query = self

    def get_compiler(self, *args: Any, **kwargs: Any) -> Any:
        return self._compiler

    def __getattr__(self, name: str) -> Any:
        # Anything else (``values_select``, ``annotation_select``...) from the real query.
        return getattr(self._queryset.query, name)


class SmallInt(int):
    """A ``PreparedReads`` kind for a value compared with a small integer column (a zone
    number, a channel): Django finds the ``int`` stand-in, far below zero, out of such a
    column's range and compiles "no rows" without a parameter, so this kind's stand-ins lie
    at the top of the column's range instead. A value outside ``MIN``-``MAX`` cannot be such a
    statement's parameter: the caller answers for it (no row can hold it)."""

    MIN, MAX = BaseDatabaseOperations.integer_field_ranges["SmallIntegerField"]


class PreparedReads:
    """Querysets compiled to SQL once per process and planned once per database session, then
    read with other values, in one round trip (``fetch_together``'s) and through the
    querysets' own row handling (model instances, ``select_related``, ``values_list``,
    converters).

    ``build`` takes keyword values and returns the querysets; ``kinds`` names each value's type
    (``int``, ``str``, ``datetime``, or ``SmallInt`` for a small integer column). The first
    ``read`` builds the querysets once with stand-in values of those types and compiles them;
    every later ``read`` puts the real values where the stand-ins were. Compiling is most of
    the cost of a small query on Django's side (a third of the operator's deep link; two
    thirds of writing an alarm): a read this way pays it once per process.

    On the database side, planning a small statement costs several times running it. Each
    statement is therefore a server-side prepared statement (``PREPARE``, in the same round
    trip as the first read on a session; then only ``EXECUTE``), with the caller's values as
    its parameters and every other parameter written into its text, so that the plan kept
    still sees the constants (a partial index's condition, say). A session that lost its
    statements (``DEALLOCATE``, a transaction-pooling proxy) has them prepared again on the
    next read; outside a transaction that read is retried at once. A deployment through a
    transaction-pooling proxy (PgBouncer before 1.21) would fail here: this project talks to
    PostgreSQL through psycopg's own pool.

    ``build`` must only hand its values to lookups (``filter(customer_id=customer_id)``), never
    branch on them: the SQL is built from the stand-ins. A value that does not come out as a
    parameter, or shows up in the SQL text, is refused when compiling. Querysets with
    ``prefetch_related`` are refused too (their extra queries would not run).

    On PostgreSQL only; elsewhere ``read`` builds the querysets with the real values and lists
    each, which is what the prepared read must equal (tests compare both).
    """

    # Stand-ins, each unique and of its type: ints inside any integer column's range (Django
    # turns an out-of-range lookup into "no rows" without a parameter).
    _STAND_INS: dict[type, Callable[[int], Any]] = {
        int: lambda n: -2_000_000_000 - n,
        str: lambda n: f"\u2063prepared-{n}\u2063",
        datetime: lambda n: datetime(1901, 1, 1, 0, 0, n, tzinfo=UTC),
        SmallInt: lambda n: SmallInt.MAX - n,
    }

    def __init__(self, build: Callable[..., Sequence[QuerySet]], **kinds: type) -> None:
        self._build = build
        self._kinds = kinds
        self._compiled: dict[str, list[_Compiled]] = {}
        self._lock = threading.Lock()
        self._number = next(_reads_numbers)

    def read(self, *, using: str = "default", **values: Any) -> list[list[Any]]:
        """What listing each queryset gives, for these values: one round trip on PostgreSQL."""
        if set(values) != set(self._kinds):
            raise TypeError(f"PreparedReads.read needs exactly {sorted(self._kinds)}")
        connection = connections[using]
        if connection.vendor != "postgresql":
            return [list(qs.using(using)) for qs in self._build(**values)]
        compiled = self._compiled.get(using) or self._compile(using)
        try:
            return self._execute(compiled, values, connection)
        except DatabaseError:
            # A session that lost its prepared statements (DEALLOCATE, a pooler in between)
            # prepares them again under new names; inside a transaction the error stands,
            # since the transaction cannot go on.
            if connection.in_atomic_block:
                raise
            return self._execute(compiled, values, connection)

    def _execute(
        self, compiled: list[_Compiled], values: dict[str, Any], connection: Any
    ) -> list[list[Any]]:
        """One round trip: ``PREPARE`` what this session has not prepared yet, ``EXECUTE``
        each statement with the values."""
        results: list[list[Any]] = []
        with connection.cursor() as cursor:
            session = _sessions.setdefault(connection.connection, _Session())
            statements: list[str] = []
            params: list[Any] = []
            new: list[str] = []
            for number, part in enumerate(compiled):
                name = f"prepared_{self._number}_{number}_{session.generation}"
                if name not in session.prepared:
                    statements.append(f"PREPARE {name} AS {part.body}")
                    new.append(name)
                marks = ", ".join(["%s"] * len(part.names))
                statements.append(f"EXECUTE {name}({marks})" if marks else f"EXECUTE {name}")
                params.extend(values[value] for value in part.names)
            try:
                cursor.execute(";\n".join(statements), params)
            except DatabaseError:
                # Some statements may exist now, unrecorded, or be gone though recorded: the
                # next round trip prepares them all again, under new names.
                session.generation += 1
                session.prepared.clear()
                raise
            # The session keeps a statement prepared even when its transaction rolls back.
            session.prepared.update(new)
            parts = iter(compiled)
            for number, statement in enumerate(statements):
                if number:
                    cursor.nextset()
                if statement.startswith("EXECUTE"):
                    results.append(self._objects(next(parts), cursor.fetchall(), connection))
        return results

    def _compile(self, using: str) -> list[_Compiled]:
        with self._lock:
            if using in self._compiled:
                return self._compiled[using]
            stand_ins = {
                name: self._STAND_INS[kind](number)
                for number, (name, kind) in enumerate(self._kinds.items())
            }
            by_value = {(type(value), value): name for name, value in stand_ins.items()}
            compiled = []
            seen: set[str] = set()
            for queryset in self._build(**stand_ins):
                queryset = queryset.using(using)
                if queryset._prefetch_related_lookups:
                    raise ValueError("PreparedReads cannot prefetch_related")
                compiler = queryset.query.get_compiler(using=using)
                # An empty result (``pk__in=[]``) has no SQL: such a queryset has no place here.
                sql, params = compiler.as_sql()
                slots = []
                for index, param in enumerate(params):
                    # A small integer column's value comes wrapped (psycopg's Int2, an int).
                    integer = isinstance(param, int) and type(param) is not bool
                    name = by_value.get((int if integer else type(param), param))
                    if name is not None:
                        slots.append((index, name))
                        seen.add(name)
                for name, value in stand_ins.items():
                    if str(value) in sql:
                        raise ValueError(f"PreparedReads: {name} is in the SQL, not a parameter")
                body, names = _statement_body(sql, params, dict(slots), connections[using])
                columns = [column[0] for column in compiler.select[: compiler.col_count]]
                converters = compiler.get_converters(columns)
                compiled.append(
                    _Compiled(
                        queryset,
                        compiler,
                        sql,
                        tuple(params),
                        tuple(slots),
                        body,
                        names,
                        converters,
                    )
                )
            if missing := set(stand_ins) - seen:
                raise ValueError(f"PreparedReads: {sorted(missing)} never reach the SQL")
            self._compiled[using] = compiled
            return compiled

    @staticmethod
    def _objects(part: _Compiled, rows: list[tuple], connection: Any) -> list[Any]:
        """The rows as the queryset would list them, through its own iterable and a copy of
        its compiler (which holds per-read state: the connection, the rows). No rows list as
        nothing, without setting the iterable up (most of the cost of a small result)."""
        if not rows:
            return []
        compiler = copy.copy(part.compiler)
        compiler.connection = connection
        if compiler.has_extra_select:
            rows = [row[: compiler.col_count] for row in rows]
        compiler.execute_sql = lambda *args, **kwargs: iter([rows])
        # The converters depend on the columns and the backend only: found once.
        compiler.get_converters = lambda expressions: part.converters
        return list(part.queryset._iterable_class(_Answered(part.queryset, compiler)))


class RowsInsert:
    """One model's ``INSERT ... VALUES ... RETURNING`` its primary key, built from its fields
    once per process, for statements sent together in one round trip (PostgreSQL).

    Each row's values are what Django's own insert compiler sends (``pre_save``, then
    ``get_db_prep_save``, field by field), for every concrete field but the automatic primary
    key; ``computed`` gives columns whose value is an SQL expression, the same for every row
    (a foreign key to the row an earlier statement of the same round trip inserted). No
    ``pre_save``/``post_save`` signals are sent, as with ``bulk_create``; a model with a
    ``save()`` of its own is refused.

    ``bulk_create`` of one row compiles its statement every time: on a 2-core machine it took
    2.7 ms to write one signal, against a round trip's 0.3 ms.
    """

    def __init__(self, model: type[Model], *, computed: dict[str, str] | None = None) -> None:
        meta = model._meta
        if not getattr(meta.pk, "db_returning", False):
            raise ValueError(f"RowsInsert needs an automatic primary key: {model.__name__}")
        if model.save is not Model.save:
            # Its save() does more than insert: writing around it would skip that.
            raise ValueError(f"RowsInsert would skip {model.__name__}.save()")
        if meta.parents:
            raise ValueError(f"RowsInsert cannot insert an inherited model: {model.__name__}")
        self.model = model
        self.computed = dict(computed or {})
        self.fields = [
            f for f in meta.concrete_fields if not f.primary_key and f.name not in self.computed
        ]
        # For Model._prepare_related_fields_for_save, which asks of every field whether it is
        # one of these: a set answers at once, a list compared field by field (quadratic: 700
        # comparisons for an event and its signal).
        self._field_set = frozenset(self.fields)
        # Values the database makes: Django leaves these out of its INSERT, this one cannot.
        if made := [f.name for f in self.fields if f.generated or f.has_db_default()]:
            raise ValueError(f"RowsInsert: the database makes {model.__name__}'s {made}")
        unknown = set(self.computed) - {f.name for f in meta.concrete_fields}
        if unknown:
            raise ValueError(f"RowsInsert: {model.__name__} has no field {sorted(unknown)}")
        self._computed_columns = [meta.get_field(name).column for name in self.computed]
        self._row = "(" + ", ".join([*self.computed.values(), *["%s"] * len(self.fields)]) + ")"
        # Per database vendor: the statement's text before and after its rows.
        self._text: dict[str, tuple[str, str]] = {}

    def statement(self, rows: Sequence[Model], connection: Any) -> tuple[str, list[Any]]:
        """The INSERT for these instances (at least one) and its parameters."""
        if not rows:
            raise ValueError("RowsInsert: no rows")
        text = self._text.get(connection.vendor)
        if text is None:
            quote = connection.ops.quote_name
            columns = [*self._computed_columns, *(f.column for f in self.fields)]
            text = self._text[connection.vendor] = (
                f"INSERT INTO {quote(self.model._meta.db_table)} "
                f"({', '.join(quote(c) for c in columns)}) VALUES ",
                f" RETURNING {quote(self.model._meta.pk.column)}",
            )
        head, tail = text
        sql = head + ", ".join([self._row] * len(rows)) + tail
        for row in rows:
            # As bulk_create: a related object saved after it was assigned gives its key, an
            # unsaved one is refused.
            row._prepare_related_fields_for_save(
                operation_name="RowsInsert", fields=self._field_set
            )
        params = [
            field.get_db_prep_save(field.pre_save(row, True), connection)
            for row in rows
            for field in self.fields
        ]
        return sql, params

    @staticmethod
    def inserted(rows: Sequence[Model], keys: Sequence[tuple], using: str) -> None:
        """Give the instances the primary keys their INSERT returned (in the rows' order)."""
        if len(keys) != len(rows):
            raise DatabaseError(f"{len(rows)} rows inserted, {len(keys)} keys returned")
        for row, (key,) in zip(rows, keys, strict=True):
            row.pk = key
            row._state.adding = False
            row._state.db = using


def _statement_body(
    sql: str, params: Sequence[Any], slots: dict[int, str], connection: Any
) -> tuple[str, tuple[str, ...]]:
    """``sql`` for ``PREPARE``: each named value's placeholder becomes ``$n`` (one per name),
    every other parameter a literal. ``%%`` stays: the statement is sent with the values of
    the ``EXECUTE`` statements, so the whole text goes through psycopg's formatting."""
    import psycopg

    connection.ensure_connection()
    literal = psycopg.ClientCursor(connection.connection).mogrify
    names: list[str] = []
    index = itertools.count()

    def replace(match: re.Match) -> str:
        if match.group() == "%%":
            return "%%"
        number = next(index)
        name = slots.get(number)
        if name is None:
            return literal("%s", [params[number]]).replace("%", "%%")
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return re.sub(r"%%|%s", replace, sql), tuple(names)
