"""The public URL a carrier called: what it signed, rebuilt from the request (API Gateway hides it)."""

from __future__ import annotations

from collections.abc import Mapping


def public_url(
    *, public_base_url: str | None, headers: Mapping[str, str], request_path: str, route: str, query: str
) -> str | None:
    """The URL the carrier called, query string included.

    With `public_base_url` (e.g. `https://sms.example.com/prod`), it is that base plus the route: the last
    segments of `request_path`, as many as `route` (the route template, `/webhooks/{carrier}/{account_id}`) has.
    API Gateway reports the path with the stage (`/api/webhooks/...`) while `chalice local` reports it without,
    and a stage that happens to be named "webhooks" is not taken for the route. Otherwise the URL is rebuilt from
    the request: scheme from `x-forwarded-proto` (https when behind API Gateway, http otherwise), host from
    `host`, port from `x-forwarded-port`. `headers` has lower-case keys. None without a host to rebuild from.
    """
    suffix = f"?{query}" if query else ""
    if public_base_url:
        return public_base_url.rstrip("/") + _route_part(request_path, route) + suffix
    host = headers.get("host", "").strip()
    if not host:
        return None
    forwarded_proto = headers.get("x-forwarded-proto", "")
    # A proxy chain may list several protocols; the first is the one the client (the carrier) used.
    scheme = forwarded_proto.split(",")[0].strip().lower()
    if not scheme:
        scheme = "https" if "x-forwarded-for" in headers else "http"
    port = headers.get("x-forwarded-port", "").split(",")[0].strip()
    if port and not _has_port(host):
        host = f"{host}:{port}"
    return f"{scheme}://{host}{request_path}{suffix}"


def _route_part(request_path: str, route: str) -> str:
    depth = len([segment for segment in route.split("/") if segment])
    segments = request_path.split("/")
    if depth == 0 or len(segments) <= depth:
        return request_path
    return "/" + "/".join(segments[-depth:])


def _has_port(host: str) -> bool:
    # "[::1]:3000" has a port; "[::1]" has colons but none.
    return ":" in host.rsplit("]", 1)[-1]
