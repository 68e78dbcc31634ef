"""The pieces every dealer-side page is built from, one copy each.

- ``ServiceFormMixin``: a form view whose ``form_valid`` hands the cleaned data to a service
  and puts the service's ``ValidationError`` on the form (``add_service_errors``).
- ``FilteredListMixin`` with ``DealerFilterSet``: a list with the filter bar
  (``templates/_filter_bar.html``), its query string kept across pages (``_pagination.html``)
  and exports, paged by ``ListPaginator`` (the last page as cheap as the first).
- ``code_url``: the address of each row's page in a long list, with one ``reverse()``.
- ``fetch_together``: several querysets read in one round trip to PostgreSQL.
- The row-action cell is the ``row_actions`` template tag (``dealers/templatetags/dealer_ui.py``).

They live here, in the lowest app, so that every app above may use them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import django_filters
from django import forms
from django.contrib import messages
from django.core.exceptions import EmptyResultSet, ValidationError
from django.core.paginator import Page, Paginator
from django.db import connections
from django.db.models import QuerySet
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
