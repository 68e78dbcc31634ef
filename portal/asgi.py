"""ASGI entry point."""

import os

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.db import connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")


class PortalASGIHandler(ASGIHandler):
    """Django's ASGI handler, giving the request's database connections back when an
    exception escapes it.

    The ASGI twin of ``portal.wsgi.ReleaseConnectionsOnError``: Django returns pooled
    connections when the response is closed (request_finished); an exception that escapes
    the handler (an error page that fails while being built ...) produces no response, and
    the connection stayed checked out of psycopg's pool for good. They are released here,
    inside the task that gets the response, whose context is where Django keeps them (a
    wrapper around the whole application would not see them).
    """

    async def run_get_response(self, request):
        try:
            return await super().run_get_response(request)
        except BaseException:
            await sync_to_async(connections.close_all)()
            raise


# What django.core.asgi.get_asgi_application() does, with the handler above.
django.setup(set_prefix=False)
application = PortalASGIHandler()
