"""Bulk import (upload, preview, import) and export of the dealer's customers.

The checking and the importing run on the task engine; the import page refreshes itself
(htmx) while they run. Any member may export (it only reads); the roles that edit sites
import.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views import View
from django.views.generic import FormView, TemplateView

from customers import imports, services
from customers.filters import CustomerFilter
from customers.models import Customer, CustomerImport, Zone
from customers.views.base import EDIT_ROLES
from dealers.access import DealerRequiredMixin, get_for_dealer_or_404
from dealers.generic import ServiceFormMixin

ROWS_PER_PAGE = 100


class UploadForm(forms.Form):
    file = forms.FileField(
        label="File",
        help_text="A .csv (UTF-8) or .xlsx file whose first line holds the column names.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx"}),
    )


class ImportView(ServiceFormMixin, DealerRequiredMixin, FormView):
    """Upload a file of customers; the checking starts at once."""

    template_name = "customers/import.html"
    form_class = UploadForm
    required_roles = EDIT_ROLES
    http_method_names = ["get", "post", "head", "options"]
    success_message = "“{obj.file_name}” uploaded. Check the preview, then import it."

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(
            columns=imports.columns_for(list(imports.records_for(self.dealer))),
            uploads=CustomerImport.objects.for_dealer(self.dealer)
            .select_related("created_by")
            .defer("content", "result")[:10],
            zone_types=Zone.Type.choices,
        )
        return context

    def perform(self, form: UploadForm) -> CustomerImport:
        upload = form.cleaned_data["file"]
        return services.customer_import_upload(
            dealer=self.dealer,
            file_name=upload.name,
            content=upload.read(),
            actor=self.request.user,
        )

    def get_success_url_for(self, obj: CustomerImport) -> str:
        return obj.get_absolute_url()


class _UploadMixin(DealerRequiredMixin):
    required_roles = EDIT_ROLES

    @cached_property
    def upload(self) -> CustomerImport:
        return get_for_dealer_or_404(
            CustomerImport.objects.select_related("created_by"),
            self.dealer,
            code=self.kwargs["code"],
        )


class ImportDetailView(_UploadMixin, TemplateView):
    """The preview: every line that changes something or has errors, by line and column."""

    template_name = "customers/import_detail.html"
    http_method_names = ["get", "head", "options"]

    def get_template_names(self) -> list[str]:
        if self.request.htmx:  # the page's own refresh while the task engine works
            return ["customers/_import_status.html"]
        return [self.template_name]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        upload = self.upload
        rows = sorted(
            upload.result.get("rows", []), key=lambda r: (r["action"] != "error", r["line"])
        )
        page = Paginator(rows, ROWS_PER_PAGE).get_page(self.request.GET.get("page"))
        context.update(upload=upload, page_obj=page, rows=page.object_list)
        return context


class ImportCommitView(_UploadMixin, View):
    """Import the checked file: every row or none (the task engine does it)."""

    http_method_names = ["post", "options"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            services.customer_import_start(upload=self.upload, actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect(self.upload.get_absolute_url())


class ExportView(DealerRequiredMixin, View):
    """The customers the list shows (its filters), as the import reads them: CSV or Excel."""

    http_method_names = ["get", "head", "options"]

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        file_format = request.GET.get("format", "csv")
        if file_format not in imports.FORMATS:
            file_format = "csv"
        everyone = Customer.objects.for_dealer(self.dealer).order_by("name", "id")
        customers = CustomerFilter(request.GET, queryset=everyone, dealer=self.dealer).qs
        if request.GET.get("template"):
            customers = customers.none()  # only the column names: a file to fill in
        content = imports.export_file(imports.export_rows(self.dealer, customers), file_format)
        stamp = timezone.localtime().strftime("%Y-%m-%d")
        response = HttpResponse(content, content_type=imports.FORMATS[file_format])
        response["Content-Disposition"] = f'attachment; filename="customers-{stamp}.{file_format}"'
        return response
