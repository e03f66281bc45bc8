"""The operator page's files (operator_api/page/), served at GET / and /static/<name> without a
token: the page holds no data, it asks the API for it with the bearer token the trader gives it.

Only the files named in PAGE_FILES are served (no path is ever joined from the request), each
with a Content-Security-Policy that allows nothing but this server, so the page cannot load
anything from elsewhere even by mistake.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

INDEX = "index.html"
PAGE_FILES: dict[str, str] = {
    INDEX: "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
STATIC_PREFIX = "/static/"
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                                "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def page_file_for(path: str) -> str | None:
    """The page file a GET of `path` asks for, or None when the path is not the page's."""
    if path == "/":
        return INDEX
    if path.startswith(STATIC_PREFIX):
        name = path[len(STATIC_PREFIX):]
        return name if name in PAGE_FILES else None
    return None


def is_page_path(path: str) -> bool:
    return path == "/" or path.startswith(STATIC_PREFIX)


@cache
def read_page_file(name: str) -> bytes:
    if name not in PAGE_FILES:
        raise KeyError(name)
    return resources.files("operator_api").joinpath("page", name).read_bytes()
