"""Walk URL patterns as each kind of visitor, so that a new view cannot skip its access check.

The routes come from the URL resolver itself (``all_routes``), never from a hand-kept list:
a view added tomorrow is walked tomorrow. A walk needs three things:

- the routes to walk, e.g. ``[r for r in all_routes() if r.view_inherits(DealerRequiredMixin)]``;
- a ``UrlFinder``: a client that may open every one of those pages (the victim's owner) and
  candidate objects of the victim (anything with a ``code``). For a route with ``<uuid:...>``
  parameters the finder tries the candidates until the owner's client gets something other
  than 404, so the walk needs no table of which object each page is about. A route no
  candidate opens is reported: give the victim an object of that kind;
- ``Visitor``s: a name, a signed-in (or not) test client, and for each method what answer is
  right (``expect_*`` below, or any function returning a problem or None).

``walk`` returns the problems, one line each, so that one failing test lists them all:

    problems = walk(routes, finder, visitors)
    assert not problems, "\\n".join(problems)

The dealer side's walk is tests/portal/test_url_walk.py; the station side walks its own routes
with its own personas the same way.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.converters import UUIDConverter

# --- the routes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One URL pattern, as the resolver knows it."""

    name: str  # "customers:detail"; "" for an unnamed pattern
    pattern: str  # the whole route, e.g. "customers/<uuid:code>/"
    converters: dict[str, Any]  # parameter name -> converter
    callback: Callable[..., Any]

    @property
    def view_class(self) -> type | None:
        return getattr(self.callback, "view_class", None)

    def view_inherits(self, cls: type) -> bool:
        view_class = self.view_class
        return view_class is not None and issubclass(view_class, cls)

    @property
    def methods(self) -> set[str] | None:
        """The HTTP methods a class-based view answers; None when the view does not say."""
        view_class = self.view_class
        if view_class is None:
            return None
        return {m.upper() for m in view_class.http_method_names}

    def __str__(self) -> str:
        return f"{self.name or '(unnamed)'} [{self.pattern}]"


def _walk_patterns(
    patterns: Iterable[URLPattern | URLResolver], prefix: str, namespace: str, converters: dict
) -> Iterator[Route]:
    for entry in patterns:
        route = prefix + str(entry.pattern)
        found = {**converters, **getattr(entry.pattern, "converters", {})}
        if isinstance(entry, URLResolver):
            inner = namespace
            if entry.namespace:
                inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from _walk_patterns(entry.url_patterns, route, inner, found)
        else:
            name = entry.name or ""
            if name and namespace:
                name = f"{namespace}:{name}"
            yield Route(name=name, pattern=route, converters=found, callback=entry.callback)


def all_routes(urlconf: str | None = None) -> list[Route]:
    """Every URL pattern of the URLconf (the project's by default), includes followed."""
    return list(_walk_patterns(get_resolver(urlconf).url_patterns, "", "", {}))


# --- finding a URL for each route -----------------------------------------------------------


class UrlFinder:
    """Turns a route into a URL the victim's ``client`` can open, trying ``candidates`` (objects
    with a ``code``) for its UUID parameters. Results are kept, so each route is found once."""

    def __init__(self, client: Client, candidates: Iterable[Any]) -> None:
        self.client = client
        self.candidates = list(candidates)
        self._found: dict[tuple[str, str], str | None] = {}

    def url(self, route: Route) -> str | None:
        key = (route.name, route.pattern)
        if key not in self._found:
            self._found[key] = self._find(route)
        return self._found[key]

    def _find(self, route: Route) -> str | None:
        names = list(route.converters)
        if not names:
            return reverse(route.name)
        if any(not isinstance(route.converters[n], UUIDConverter) for n in names):
            return None  # only UUID parameters are filled (the portal's URLs carry codes)
        codes = [obj.code for obj in self.candidates]
        for values in itertools.product(codes, repeat=len(names)):
            url = reverse(route.name, kwargs=dict(zip(names, values, strict=True)))
            if self._opens(route, url):
                return url
        return None

    def _opens(self, route: Route, url: str) -> bool:
        methods = route.methods or {"GET", "POST"}
        # Look first; POST (which may change the victim's data) only for a page with no GET.
        method = "GET" if "GET" in methods else "POST"
        response = self.client.generic(method, url)
        return response.status_code != 404


# --- visitors and what they should get -------------------------------------------------------

# A check gets the route, the method, the URL and the response; it returns a problem or None.
Check = Callable[[Route, str, str, HttpResponse], str | None]


@dataclass
class Visitor:
    """Someone who should not get in (or only so far): a client and a check per method."""

    name: str
    client: Client
    checks: dict[str, Check]  # method -> check
    exempt: dict[str, str] = field(default_factory=dict)  # route name -> why not checked


def _describe(response: HttpResponse) -> str:
    where = f" -> {response['Location']}" if response.has_header("Location") else ""
    return f"{response.status_code}{where}"


def expect_status(*codes: int) -> Check:
    def check(route: Route, method: str, url: str, response: HttpResponse) -> str | None:
        if response.status_code in codes:
            return None
        return f"expected {' or '.join(map(str, codes))}, got {_describe(response)}"

    return check


def expect_login_redirect() -> Check:
    """A signed-out visitor is sent to sign in, and back to this page afterwards."""

    def check(route: Route, method: str, url: str, response: HttpResponse) -> str | None:
        login = reverse(settings.LOGIN_URL)
        location = response.get("Location", "")
        if response.status_code == 302 and urlsplit(location).path == login:
            return None
        return f"expected a redirect to {login}, got {_describe(response)}"

    return check


def expect_refused(*, allowed: Sequence[int] = (403, 405)) -> Check:
    """A write the visitor's role does not allow: 403 (or 405 where the page takes no POST)."""
    return expect_status(*allowed)


def expect_not_found(*, containing: str = "") -> Check:
    """The page does not exist for the visitor (404), optionally saying ``containing``."""

    def check(route: Route, method: str, url: str, response: HttpResponse) -> str | None:
        if response.status_code != 404:
            return f"expected 404, got {_describe(response)}"
        if containing and containing not in response.content.decode(errors="replace"):
            return f"the 404 page does not contain {containing!r}"
        return None

    return check


def expect_nothing_of(markers: Iterable[str]) -> Check:
    """For another tenant: a page about an object is a 404 (405 for a method the page does not
    take); a page about no object (a list) may answer, but shows none of the ``markers`` (the
    victim's names and numbers)."""
    markers = [m for m in markers if m]

    def check(route: Route, method: str, url: str, response: HttpResponse) -> str | None:
        if route.converters:
            if response.status_code in (404, 405):
                return None
            return f"expected 404, got {_describe(response)}"
        if response.status_code >= 500:
            return f"server error {response.status_code}"
        body = response.content.decode(errors="replace")
        leaked = [m for m in markers if m in body]
        return f"shows the victim's {', '.join(leaked)}" if leaked else None

    return check


def expect_no_server_error() -> Check:
    def check(route: Route, method: str, url: str, response: HttpResponse) -> str | None:
        return f"server error {response.status_code}" if response.status_code >= 500 else None

    return check


# --- the walk -------------------------------------------------------------------------------


def walk(routes: Iterable[Route], finder: UrlFinder, visitors: Sequence[Visitor]) -> list[str]:
    """Every visitor tries every route with each method it has a check for; the problems.

    Visitors go in the order given; put the ones that may change data (none should) before
    those whose answers depend on it."""
    problems: list[str] = []
    routes = list(routes)
    for route in routes:
        if finder.url(route) is None:
            problems.append(
                f"{route}: no candidate object opens this page for the victim's client; give "
                "the victim an object of the kind it is about"
            )
    for visitor in visitors:
        for route in routes:
            url = finder.url(route)
            if url is None or route.name in visitor.exempt:
                continue
            for method, check in visitor.checks.items():
                response = visitor.client.generic(method, url)
                problem = check(route, method, url, response)
                if problem:
                    problems.append(f"{visitor.name}: {method} {url} ({route.name}): {problem}")
    return problems
