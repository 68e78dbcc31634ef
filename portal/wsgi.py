"""WSGI entry point: gunicorn portal.wsgi."""

import os

from django.core.wsgi import get_wsgi_application
from django.db import connections

from portal import collector

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")


class ReleaseConnectionsOnError:
    """Give the request's database connections back when an exception escapes Django.

    Django returns a pooled connection when the response is closed (request_finished). An
    exception that escapes its handler, such as an error page that fails while being built,
    produces no response: the server answers a bare 500 and the connection stayed checked
    out of psycopg's pool for good. After DATABASE_POOL_MAX of those every request waited
    for the pool's timeout and failed.
    """

    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, environ, start_response):
        try:
            return self.app(environ, start_response)
        except BaseException:
            connections.close_all()
            raise


application = ReleaseConnectionsOnError(get_wsgi_application())

# What is loaded by now (Django, the apps, their models, URL patterns and templates' machinery)
# lives as long as the process. Frozen, it is out of the cyclic collector's sight: a full
# collection walks only what requests made since. On the operator's deep link a full
# collection, about once in 800 requests, held the request 67-90 ms; frozen, 9-30 ms
# (docs/deep-links.md). Under gunicorn --preload the workers inherit it from the fork. What
# the first requests make to last (imports on first use, caches) is frozen once they are
# done (portal/collector.py).
collector.freeze_startup()
collector.settle_after()
