"""The console's security layer, one ASGI middleware in front of every route (so a page added
later is covered without doing anything):

- **Trusted hosts**: a request whose Host header is not one the console answers to gets 403.
  That defeats DNS rebinding (a hostile name re-pointed at 127.0.0.1 still sends its own Host).
- **Same origin for every state-changing request** (POST, PUT, PATCH, DELETE): an Origin, or
  else a Referer, from another origin gets 403; a browser request must carry the CSRF token
  (form field `csrf_token` or header `X-CSRF-Token`) equal to the console's `SameSite=Strict`
  cookie. A request with neither Origin nor Referer nor cookie is a program's, not a browser's
  (browsers send Origin on every POST): it may call the JSON API (`Content-Type:
  application/json`, which a cross-origin page cannot send without a CORS preflight the console
  never answers) and nothing else.
- **Authentication** when a credential is configured (required off loopback, see
  `ConsoleSecurity`): a login form that sets an HttpOnly `SameSite=Strict` session cookie, or
  `Authorization: Bearer <token>` (or `Basic` with the Prefect server's auth string) per request.
- **Headers** on every response: a Content-Security-Policy without inline script or style and
  with `frame-ancestors 'none'`, `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`,
  `Referrer-Policy: same-origin`.

Every refusal is one sentence (JSON `{"error": ...}` for the API, a small page for a browser).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import html
import ipaddress
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TOKEN_ENV = "ETL_CONSOLE_TOKEN"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SESSION_SECONDS = 12 * 3600
MAX_FORM_BYTES = 1_000_000  # the console's forms are a few kilobytes
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Reachable without a credential: the login page, its stylesheet and icon, and the health probe
# (`etl services` waits on it; it tells only whether the Prefect API answers).
PUBLIC_PATHS = ("/login", "/static/", "/health")
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


class ConsoleSecurityError(Exception):
    """The console cannot start as configured; the message says what to fix."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class ConsoleSecurity:
    """Who may reach the console, and with what.

    `bind`: the address it listens on. `allowed_hosts`: extra names it answers to (a DNS name
    or a proxy's host) beside its loopback names and a specific bind address. `token`: the
    console's own credential (ETL_CONSOLE_TOKEN or a Prefect Secret block). `prefect_auth`: the
    Prefect server's basic-auth string ("user:password", PREFECT_API_AUTH_STRING), accepted as
    the same credential. A console bound beyond loopback refuses to start with neither."""

    bind: str = "127.0.0.1"
    port: int = 4300
    allowed_hosts: tuple[str, ...] = ()
    token: str | None = field(default=None, repr=False)
    prefect_auth: str | None = field(default=None, repr=False)
    sessions: dict[str, float] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not is_loopback(self.bind) and not self.requires_login:
            raise ConsoleSecurityError(
                f"The console would listen on {self.bind}, beyond this machine, without a "
                f"credential; set {TOKEN_ENV}, pass --credential-block NAME (a Prefect Secret "
                "block) or set PREFECT_API_AUTH_STRING, or listen on 127.0.0.1."
            )
        if self.token is not None and len(self.token) < 16:
            raise ConsoleSecurityError(
                "The console's credential is shorter than 16 characters; use a longer random "
                "token (e.g. `python -c 'import secrets; print(secrets.token_urlsafe())'`)."
            )

    @property
    def requires_login(self) -> bool:
        return bool(self.token or self.prefect_auth)

    @property
    def hostnames(self) -> set[str]:
        """Host names (lower case, IPv6 in brackets) the console answers to, whatever the port:
        a rebinding page sends its own name, never one of these."""
        names = {*LOOPBACK_NAMES, *(h.lower() for h in self.allowed_hosts)}
        if self.bind not in ("0.0.0.0", "::") and not is_loopback(self.bind):
            names.add(self.bind.lower())
        return {f"[{n}]" if ":" in n and not n.startswith("[") else n for n in names}

    def answers_to(self, host: str) -> bool:
        """Is `host` (a Host header: name[:port]) one of the console's names?"""
        name = host[: host.index("]") + 1] if host.startswith("[") and "]" in host else (
            host.rsplit(":", 1)[0] if ":" in host else host
        )  # fmt: skip
        return name in self.hostnames

    @property
    def cookie_suffix(self) -> str:
        # Browsers share cookies between ports of one host: two consoles must not.
        return str(self.port)

    # -- credentials ------------------------------------------------------------------------

    def password_ok(self, username: str, password: str) -> bool:
        ok = False
        if self.token:
            ok |= hmac.compare_digest(password.encode(), self.token.encode())
        if self.prefect_auth:
            given = f"{username}:{password}".encode()
            ok |= hmac.compare_digest(given, self.prefect_auth.encode())
        return ok

    def header_ok(self, authorization: str) -> bool:
        scheme, _, value = authorization.partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and self.token:
            return hmac.compare_digest(value.encode(), self.token.encode())
        if scheme.lower() == "basic" and self.prefect_auth:
            try:
                decoded = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                return False
            return hmac.compare_digest(decoded, self.prefect_auth.encode())
        return False

    def new_session(self) -> str:
        now = time.time()
        for expired in [s for s, until in self.sessions.items() if until < now]:
            del self.sessions[expired]
        session = secrets.token_urlsafe(32)
        self.sessions[session] = now + SESSION_SECONDS
        return session

    def session_ok(self, session: str | None) -> bool:
        until = self.sessions.get(session or "")
        return until is not None and until > time.time()


class SecurityMiddleware:
    """The layer described in the module docstring, as plain ASGI (the body of a form is read
    here, checked, and handed on unchanged)."""

    def __init__(self, app: ASGIApp, security: ConsoleSecurity) -> None:
        self.app = app
        self.security = security
        self.csrf_cookie = f"etl_console_csrf_{security.cookie_suffix}"
        self.session_cookie = f"etl_console_session_{security.cookie_suffix}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = _Request(scope)
        cookies = request.cookies()
        csrf = cookies.get(self.csrf_cookie) or ""
        new_cookies: list[str] = []
        if not csrf:
            csrf = secrets.token_urlsafe(32)
            new_cookies.append(self._cookie(self.csrf_cookie, csrf, request))
        scope.setdefault("state", {})["csrf_token"] = csrf
        send = self._with_headers(send, new_cookies)

        host = request.header("host").lower()
        if not self.security.answers_to(host):
            await self._refuse(send, request, 403, (
                f"This console does not answer to the host '{host or '(none)'}'; open it at "
                f"http://127.0.0.1:{self.security.port} or start it with --allowed-host "
                f"{host.rsplit(':', 1)[0] if host else 'NAME'}."
            ))  # fmt: skip
            return

        body = b""
        if request.method in UNSAFE_METHODS:
            body, too_large = await _read_body(receive)
            if too_large:
                await self._refuse(send, request, 413, "The request body is larger than 1 MB.")
                return
            refusal = self._cross_origin(request, host, body, csrf)
            if refusal:
                await self._refuse(send, request, 403, refusal)
                return

        path = scope["path"]
        authenticated = self._authenticated(request, cookies)
        scope["state"]["authenticated"] = authenticated
        if path == "/login" and request.method == "POST" and self.security.requires_login:
            await self._login(send, request, body)
            return
        if path == "/logout" and request.method == "POST":
            self.security.sessions.pop(cookies.get(self.session_cookie, ""), None)
            await _redirect(send, "/login" if self.security.requires_login else "/", [
                self._cookie(self.session_cookie, "", request, expire=True)
            ])  # fmt: skip
            return
        if not authenticated and not path.startswith(PUBLIC_PATHS):
            if request.method == "GET" and not path.startswith("/api/"):
                await _redirect(send, "/login?next=" + quote(request.target(), safe="/"), [])
                return
            await self._refuse(send, request, 401, (
                "Sign in first: this console needs its credential (the login page, or an "
                "Authorization: Bearer header with the token)."
            ))  # fmt: skip
            return
        await self.app(scope, _replay(body, receive) if body else receive, send)

    # -- checks -------------------------------------------------------------------------------

    def _cross_origin(self, request: _Request, host: str, body: bytes, csrf: str) -> str | None:
        """Why this state-changing request is refused, or None."""
        origin = request.header("origin")
        referer = request.header("referer")
        source = origin or (referer and _origin_of(referer))
        if source and urlsplit(source).netloc.lower() != host:
            return (
                f"Cross-origin request refused: the console takes state-changing requests only "
                f"from its own pages, not from {source}."
            )
        content_type = request.header("content-type").split(";")[0].strip().lower()
        if request.path.startswith("/api/") and content_type != "application/json":
            return "The console's API takes JSON only; send Content-Type: application/json."
        browser = bool(origin or referer or request.header("cookie"))
        if not browser and content_type == "application/json":
            return None  # a program: no ambient cookie, and a JSON body needs CORS from a page
        token = request.header(CSRF_HEADER)
        if not token and content_type == "application/x-www-form-urlencoded":
            token = dict(parse_qsl(body.decode("utf-8", "replace"))).get(CSRF_FIELD, "")
        if not token or not hmac.compare_digest(token.encode(), csrf.encode()):
            return (
                "The form's security token is missing or stale; reload the console's page and "
                "submit again."
            )
        return None

    def _authenticated(self, request: _Request, cookies: dict[str, str]) -> bool:
        if not self.security.requires_login:
            return True
        authorization = request.header("authorization")
        if authorization and self.security.header_ok(authorization):
            return True
        return self.security.session_ok(cookies.get(self.session_cookie))

    async def _login(self, send: Send, request: _Request, body: bytes) -> None:
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        target = form.get("next") or "/"
        if not target.startswith("/") or target.startswith("//"):
            target = "/"  # never redirect off the console
        if not self.security.password_ok(form.get("username", ""), form.get("password", "")):
            await _redirect(send, "/login?" + "&".join((
                "error=" + quote("Wrong credential; use the console's token (or the Prefect "
                                 "server's user and password)."),
                "next=" + quote(target, safe="/"),
            )), [])  # fmt: skip
            return
        session = self.security.new_session()
        await _redirect(send, target, [self._cookie(self.session_cookie, session, request)])

    # -- responses ----------------------------------------------------------------------------

    def _cookie(self, name: str, value: str, request: _Request, expire: bool = False) -> str:
        parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Strict"]
        if request.scheme == "https":
            parts.append("Secure")
        if expire:
            parts.append("Max-Age=0")
        return "; ".join(parts)

    def _with_headers(self, send: Send, cookies: list[str]) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers", [])
                    if k.lower() not in {name for name, _ in SECURITY_HEADERS}
                ]  # fmt: skip
                headers += SECURITY_HEADERS
                headers += [(b"set-cookie", c.encode("latin-1")) for c in cookies]
                message["headers"] = headers
            await send(message)

        return wrapped

    async def _refuse(self, send: Send, request: _Request, status: int, sentence: str) -> None:
        wants_json = request.path.startswith("/api/") or "application/json" in (
            request.header("accept") + request.header("content-type")
        )
        if wants_json:
            body = json.dumps({"error": sentence}).encode()
            kind = b"application/json"
        else:
            body = (
                '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Refused · ETL '
                'console</title><link rel="stylesheet" href="/static/console.css"></head><body>'
                f'<main id="main"><p class="flash error" role="alert">{html.escape(sentence)}'
                "</p></main></body></html>"
            ).encode()
            kind = b"text/html; charset=utf-8"
        headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
        if status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="ETL console"'))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class _Request:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.method: str = scope["method"].upper()
        self.path: str = scope["path"]
        self.scheme: str = scope.get("scheme", "http")
        self._headers: dict[str, str] = {}
        for key, value in scope.get("headers", []):
            self._headers.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))

    def header(self, name: str) -> str:
        return self._headers.get(name, "")

    def cookies(self) -> dict[str, str]:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(self.header("cookie"))
        except Exception:  # a malformed Cookie header counts as no cookie
            return {}
        return {key: morsel.value for key, morsel in jar.items()}

    def target(self) -> str:
        query = self.scope.get("query_string", b"").decode("latin-1")
        return self.path + (f"?{query}" if query else "")


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else url


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks), False


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _redirect(send: Send, location: str, cookies: Iterable[str]) -> None:
    headers = [(b"location", location.encode("latin-1")), (b"content-length", b"0")]
    headers += [(b"set-cookie", c.encode("latin-1")) for c in cookies]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
