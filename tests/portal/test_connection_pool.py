"""No exception path leaks a pooled database connection, in debug mode or not.

The requests go through the real WSGI application (portal.wsgi) in threads of their own, as
gunicorn's threads or runserver serve them, and through the real ASGI application
(portal.asgi) on an event loop of their own, against PostgreSQL with psycopg's pool on.
"""

from __future__ import annotations

import asyncio
import threading
import time
from wsgiref.util import setup_testing_defaults

import pytest
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql" or not connection.settings_dict["OPTIONS"].get("pool"),
        reason="needs PostgreSQL with the connection pool (CI sets DATABASE_URL)",
    ),
]

TOO_MANY = "&".join(f"p{i}=1" for i in range(1_100))


def _request(path: str, query: str = "", method: str = "GET", body: bytes = b"") -> dict:
    """One request in a thread of its own, through portal.wsgi.application."""
    from io import BytesIO

    from portal.wsgi import application

    environ: dict = {}
    setup_testing_defaults(environ)
    environ.update(
        PATH_INFO=path,
        QUERY_STRING=query,
        REQUEST_METHOD=method,
        CONTENT_TYPE="application/x-www-form-urlencoded",
        CONTENT_LENGTH=str(len(body)),
        REMOTE_ADDR="127.0.0.1",
    )
    environ["wsgi.input"] = BytesIO(body)
    outcome: dict = {}

    def start_response(status, headers, exc_info=None):
        outcome["status"] = int(status.split()[0])

    def run() -> None:
        started = time.monotonic()
        try:
            result = application(environ, start_response)
            try:
                outcome["body"] = b"".join(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        except Exception as exc:  # what the WSGI server would turn into a bare 500
            outcome["raised"] = exc
        outcome["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    return outcome


def _checked_out() -> int:
    stats = connection.pool.get_stats()
    return stats["pool_size"] - stats["pool_available"]


@pytest.mark.parametrize("debug", [True, False])
def test_a_thousand_parameters_answer_400_and_leak_no_connection(settings, debug):
    settings.DEBUG = debug
    connection.ensure_connection()
    before = _checked_out()
    for _ in range(12):  # more than the pool holds
        outcome = _request("/accounts/login/", TOO_MANY)
        assert "raised" not in outcome, outcome
        assert outcome["status"] == 400
        outcome = _request("/accounts/login/", method="POST", body=TOO_MANY.encode())
        assert "raised" not in outcome, outcome
        assert outcome["status"] in (400, 403)
    assert _checked_out() == before
    normal = _request("/accounts/login/")
    assert normal["status"] == 200
    assert normal["seconds"] < 3


def test_an_exception_escaping_django_returns_the_connection(monkeypatch):
    """Whatever escapes Django's handler (a broken error page ...) still frees the connection."""
    real = WSGIHandler.get_response

    def failing(self, request):
        connection.ensure_connection()  # this thread now holds a pooled connection
        raise RuntimeError("the error page itself failed")

    monkeypatch.setattr(WSGIHandler, "get_response", failing)
    connection.ensure_connection()
    before = _checked_out()
    for _ in range(12):
        outcome = _request("/accounts/login/")
        assert isinstance(outcome.get("raised"), RuntimeError)
    assert _checked_out() == before
    monkeypatch.setattr(WSGIHandler, "get_response", real)
    normal = _request("/accounts/login/")
    assert normal["status"] == 200
    assert normal["seconds"] < 3


def _asgi_request(path: str) -> dict:
    """One GET through portal.asgi.application, on an event loop in a thread of its own, as an
    ASGI server runs it (the request's sync code in asgiref's thread)."""
    from portal.asgi import application

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    outcome: dict = {}

    async def serve() -> None:
        requests = [{"type": "http.request", "body": b"", "more_body": False}]

        async def receive() -> dict:
            if requests:
                return requests.pop(0)
            await asyncio.sleep(3600)  # the client stays connected
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                outcome["status"] = message["status"]

        try:
            await application(scope, receive, send)
        except Exception as exc:  # what the ASGI server would turn into a bare 500
            outcome["raised"] = exc

    thread = threading.Thread(target=asyncio.run, args=(serve(),))
    thread.start()
    thread.join(timeout=60)
    return outcome


def test_an_exception_escaping_django_under_asgi_returns_the_connection(monkeypatch):
    real = ASGIHandler.get_response_async

    async def failing(self, request):
        # The request's sync code takes a pooled connection (in asgiref's thread) ...
        await sync_to_async(lambda: connection.ensure_connection())()
        raise RuntimeError("the error page itself failed")  # ... and nothing answers

    monkeypatch.setattr(ASGIHandler, "get_response_async", failing)
    connection.ensure_connection()
    before = _checked_out()
    for _ in range(12):  # more than the pool holds
        assert isinstance(_asgi_request("/accounts/login/").get("raised"), RuntimeError)
    assert _checked_out() == before
    monkeypatch.setattr(ASGIHandler, "get_response_async", real)
    assert _asgi_request("/accounts/login/")["status"] == 200
    assert _checked_out() == before
