"""Plain helpers of the project package."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import QueryDict
from django.utils.datastructures import MultiValueDict
from django.views.debug import ExceptionReporter


class SafeExceptionReporter(ExceptionReporter):
    """Django's debug error page, for requests whose parameters cannot be read.

    The debug page lists the request's GET, POST and FILES. When the error was that they
    could not be parsed (more than DATA_UPLOAD_MAX_NUMBER_FIELDS, or too big), reading them
    again raised the same error from inside the error handler, and the request ended with
    no response at all. The page now shows them as empty instead.
    """

    def get_traceback_data(self):
        request = self.request
        if request is not None:
            try:
                request.GET  # noqa: B018 - parse it now, while failure can be caught
            except (TooManyFieldsSent, RequestDataTooBig):
                request.GET = QueryDict()
            try:
                request.POST  # noqa: B018
                request.FILES  # noqa: B018
            except (TooManyFieldsSent, RequestDataTooBig):
                request._post, request._files = QueryDict(), MultiValueDict()
        return super().get_traceback_data()
