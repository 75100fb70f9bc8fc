"""MLflow 3's server protections, applied to the routes we serve natively.

``mlflow server`` (``mlflow/server/fastapi_security.py`` around its Flask app, which
``mlflow/server/security.py`` configures too) checks every request for:

- an allowed ``Host`` header (DNS rebinding): anything else gets ``403`` text/plain
  "Invalid Host header - possible DNS rebinding attack detected"; ``/health`` and ``/version``
  are exempt;
- a cross-origin state-changing API request (POST/PUT/DELETE/PATCH with an ``Origin`` that is
  neither localhost nor allowed): ``403`` text/plain "Cross-origin request blocked";
- and adds CORS headers (Flask-CORS inside, Starlette's CORSMiddleware outside) and
  ``X-Content-Type-Options``/``X-Frame-Options`` to what it answers.

MLflow's application still serves (and guards) every path we do not; our native routes and
``/health`` bypass it, so this module reproduces the *outcome* of that stack for them: the same
settings (``MLFLOW_SERVER_ALLOWED_HOSTS``, ``MLFLOW_SERVER_CORS_ALLOWED_ORIGINS``,
``MLFLOW_SERVER_X_FRAME_OPTIONS``, ``MLFLOW_SERVER_DISABLE_SECURITY_MIDDLEWARE``, as the
``--allowed-hosts``, ``--cors-allowed-origins``, ``--x-frame-options`` and
``--disable-security-middleware`` flags set them), the same defaults, statuses, bodies and
headers. CORS preflights (``OPTIONS``) are never routed natively, so MLflow answers them.
``tests/e2e/test_security_parity.py`` compares both answers request by request.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlparse

from mlflow_core.entrypoints.http.asgi_types import Scope, Send

_logger = logging.getLogger(__name__)

ALLOWED_HOSTS_ENV = "MLFLOW_SERVER_ALLOWED_HOSTS"
CORS_ALLOWED_ORIGINS_ENV = "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS"
X_FRAME_OPTIONS_ENV = "MLFLOW_SERVER_X_FRAME_OPTIONS"
DISABLE_ENV = "MLFLOW_SERVER_DISABLE_SECURITY_MIDDLEWARE"

INVALID_HOST_MSG = b"Invalid Host header - possible DNS rebinding attack detected"
CORS_BLOCKED_MSG = b"Cross-origin request blocked"

_STATE_CHANGING_METHODS = frozenset(("POST", "PUT", "DELETE", "PATCH"))
_HEALTH_ENDPOINTS = ("/health", "/version")
_TEST_ENDPOINTS = ("/test", "/api/test")
_LOCALHOST_VARIANTS = ("localhost", "127.0.0.1", "[::1]", "0.0.0.0")
_CORS_LOCALHOST_HOSTS = frozenset(("localhost", "127.0.0.1", "[::1]", "::1"))
_LOCALHOST_ORIGIN_PATTERNS = (
    r"^http://localhost(:[0-9]+)?$",
    r"^http://127\.0\.0\.1(:[0-9]+)?$",
    r"^http://\[::1\](:[0-9]+)?$",
)
_FLASK_CORS_REGEX_HINTS = frozenset("*\\]?$^[]()")
_HOST_CACHE_LIMIT = 256


def default_allowed_hosts() -> tuple[str, ...]:
    """Localhost on any port and the private address ranges, as MLflow allows by default."""
    wildcard = [
        host.replace("[", "[[]", 1) + ":*" if host.startswith("[") else host + ":*"
        for host in _LOCALHOST_VARIANTS
    ]
    private = [
        "192.168.*",
        "10.*",
        *[f"172.{i}.*" for i in range(16, 32)],
        "fc00:*",
        "fd00:*",
    ]
    return (*_LOCALHOST_VARIANTS, *wildcard, *private)


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",")) if value else ()


@dataclass(frozen=True, slots=True)
class SecuritySettings:
    enabled: bool = True
    allowed_hosts: tuple[str, ...] = default_allowed_hosts()
    allowed_origins: tuple[str, ...] = ()
    x_frame_options: str | None = "SAMEORIGIN"
    static_prefix: str = ""

    @classmethod
    def from_environment(
        cls, env: Mapping[str, str] | None = None, static_prefix: str = ""
    ) -> SecuritySettings:
        env = os.environ if env is None else env
        return cls(
            enabled=env.get(DISABLE_ENV, "false") != "true",
            allowed_hosts=_split(env.get(ALLOWED_HOSTS_ENV)) or default_allowed_hosts(),
            allowed_origins=_split(env.get(CORS_ALLOWED_ORIGINS_ENV)),
            x_frame_options=env.get(X_FRAME_OPTIONS_ENV, "SAMEORIGIN"),
            static_prefix=static_prefix,
        )


def is_allowed_host(allowed_hosts: tuple[str, ...], host: str) -> bool:
    if not host:
        return False
    if "*" in allowed_hosts:
        return True
    return any(
        fnmatch.fnmatch(host, allowed) if "*" in allowed else host == allowed
        for allowed in allowed_hosts
    )


def _is_localhost_origin(origin: str) -> bool:
    try:
        return urlparse(origin).hostname in _CORS_LOCALHOST_HOSTS
    except ValueError:
        return False


def should_block_cors_request(origin: str, method: str, allowed_origins: tuple[str, ...]) -> bool:
    if not origin or method not in _STATE_CHANGING_METHODS:
        return False
    if _is_localhost_origin(origin):
        return False
    if allowed_origins:
        if "*" in allowed_origins:
            return False
        return not any(
            fnmatch.fnmatch(origin, allowed) if "*" in allowed else origin == allowed
            for allowed in allowed_origins
        )
    return True


class _FlaskCorsOrigins:
    """Flask-CORS's origin matching (MLflow configures it on its Flask app)."""

    def __init__(self, origins: list[str]) -> None:
        self.patterns: list[re.Pattern[str] | str] = []
        for origin in origins:
            pattern = r".*" if origin == "*" else origin
            if not _FLASK_CORS_REGEX_HINTS.isdisjoint(pattern):
                self.patterns.append(re.compile(pattern, re.IGNORECASE))
            else:
                self.patterns.append(pattern)
        self.has_regex = any(isinstance(p, re.Pattern) for p in self.patterns)

    def matches(self, origin: str) -> bool:
        for pattern in self.patterns:
            if isinstance(pattern, re.Pattern):
                if pattern.match(origin):
                    return True
            elif origin.casefold() == pattern.casefold():
                return True
        return False


Headers = list[tuple[bytes, bytes]]


class SecurityPolicy:
    """What MLflow's server would check and add for one request; built once per worker."""

    def __init__(self, settings: SecuritySettings) -> None:
        self.settings = settings
        self.enabled = settings.enabled
        prefix = settings.static_prefix.rstrip("/")
        self._api_prefixes = (
            prefix + "/api/",
            prefix + "/ajax-api/",
            "/api/2.0/mlflow-artifacts/artifacts",
            "/ajax-api/2.0/mlflow-artifacts/artifacts",
        )
        self._test_paths = _TEST_ENDPOINTS
        self._health_paths = frozenset(prefix + path for path in _HEALTH_ENDPOINTS)
        self._wildcard = "*" in settings.allowed_origins
        self._check_hosts = bool(settings.allowed_hosts) and "*" not in settings.allowed_hosts
        self._host_verdicts: dict[str, bool] = {}
        flask_origins = (
            ["*"]
            if self._wildcard
            else [
                *settings.allowed_origins,
                *_LOCALHOST_ORIGIN_PATTERNS,
            ]
        )
        self._flask_origins = _FlaskCorsOrigins(flask_origins)
        self._starlette_regex = re.compile("|".join(_LOCALHOST_ORIGIN_PATTERNS))
        security: Headers = [(b"x-content-type-options", b"nosniff")]
        frame = settings.x_frame_options
        if frame and frame.upper() != "NONE":
            security.append((b"x-frame-options", frame.upper().encode("latin-1")))
        self._security_headers = security if self.enabled else []
        # The answer's extra headers when the request carries no Origin (the hot path).
        self._no_origin: Headers = self._compute(None, None)

    # -- checks -------------------------------------------------------------------------------

    def is_api_path(self, path: str) -> bool:
        return path.startswith(self._api_prefixes) and path not in self._test_paths

    def _host_allowed(self, host: str) -> bool:
        verdict = self._host_verdicts.get(host)
        if verdict is None:
            verdict = is_allowed_host(self.settings.allowed_hosts, host)
            if len(self._host_verdicts) < _HOST_CACHE_LIMIT:
                self._host_verdicts[host] = verdict
        return verdict

    async def reject(self, scope: Scope, send: Send, origin: str | None, host: str) -> bool:
        """Answer a request MLflow's server would refuse; True if it was refused."""
        if not self.enabled:
            return False
        path: str = scope["path"]
        if self._check_hosts and path not in self._health_paths and not self._host_allowed(host):
            _logger.warning("Rejected request with invalid Host header: %s", host)
            await _send_plain(send, 403, [(b"content-type", b"text/plain")], INVALID_HOST_MSG)
            return True
        if (
            not self._wildcard
            and origin
            and self.is_api_path(path)
            and should_block_cors_request(origin, scope["method"], self.settings.allowed_origins)
        ):
            _logger.warning("Blocked cross-origin request from %s", origin)
            headers: Headers = [(b"content-type", b"text/plain")]
            headers += self._starlette_cors(origin, [])
            await _send_plain(send, 403, headers, CORS_BLOCKED_MSG)
            return True
        return False

    # -- headers ------------------------------------------------------------------------------

    def response_headers(self, origin: str | None, private_network: str | None) -> Headers:
        """Headers MLflow's stack adds to an answer its Flask application produced."""
        if origin is None and private_network is None:
            return self._no_origin
        return self._compute(origin, private_network)

    def _compute(self, origin: str | None, private_network: str | None) -> Headers:
        if not self.enabled:
            return []
        headers = list(self._security_headers)
        headers += self._flask_cors(origin, private_network)
        return self._outer_cors(origin, headers)

    def health_headers(self, origin: str | None) -> Headers:
        """``/health`` is a FastAPI route in MLflow: no Flask-CORS layer inside."""
        if not self.enabled:
            return []
        return self._outer_cors(origin, list(self._security_headers))

    def _outer_cors(self, origin: str | None, headers: Headers) -> Headers:
        if origin is None:
            vary = [value for name, value in headers if name == b"vary"]
            merged = [(name, value) for name, value in headers if name != b"vary"]
            return [*merged, (b"vary", b", ".join([*vary, b"Origin"]))]
        return self._starlette_cors(origin, headers)

    def _flask_cors(self, origin: str | None, private_network: str | None) -> Headers:
        # flask_cors.core.get_cors_headers with MLflow's options.
        if origin:
            allow = [origin] if self._flask_origins.matches(origin) else []
        elif self._wildcard:
            allow = ["*"]
        else:
            # Flask-CORS's always_send: the first literal (non-regex) allowed origin.
            allow = sorted(p for p in self._flask_origins.patterns if isinstance(p, str))[:1]
        if not allow:
            return []
        headers: Headers = [(b"access-control-allow-origin", allow[0].encode("latin-1"))]
        if not self._wildcard:
            headers.append((b"access-control-allow-credentials", b"true"))
        if private_network == "true":
            headers.append((b"access-control-allow-private-network", b"false"))
        if allow[0] != "*" and self._flask_origins.has_regex:
            headers.append((b"vary", b"Origin"))
        return headers

    def _starlette_cors(self, origin: str, headers: Headers) -> Headers:
        # starlette.middleware.cors.CORSMiddleware.send for a request with an Origin.
        simple: Headers
        if self._wildcard:
            simple = [
                (b"access-control-allow-origin", b"*"),
                (b"access-control-expose-headers", b"*"),
            ]
        else:
            simple = [
                (b"access-control-allow-credentials", b"true"),
                (b"access-control-expose-headers", b"*"),
            ]
        replaced = {name for name, _ in simple}
        merged = [(name, value) for name, value in headers if name not in replaced] + simple
        vary = [value for name, value in merged if name == b"vary"]
        merged = [(name, value) for name, value in merged if name != b"vary"]
        explicit = not self._wildcard and (
            bool(self._starlette_regex.fullmatch(origin)) or origin in self.settings.allowed_origins
        )
        if explicit:
            merged = [(n, v) for n, v in merged if n != b"access-control-allow-origin"]
            merged.append((b"access-control-allow-origin", origin.encode("latin-1")))
        vary.append(b"Origin")
        merged.append((b"vary", b", ".join(vary)))
        return merged


async def _send_plain(send: Send, status: int, headers: Headers, body: bytes) -> None:
    # Like MLflow's middleware: no content-length, so the body goes out chunked.
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def request_facts(scope: Scope) -> tuple[str | None, str, str | None]:
    """The request's Origin, Host and Access-Control-Request-Private-Network, in one pass."""
    origin: str | None = None
    host = ""
    private_network: str | None = None
    for name, value in scope["headers"]:
        if name == b"host":
            host = value.decode("utf-8", "replace")
        elif name == b"origin":
            origin = value.decode("latin-1")
        elif name == b"access-control-request-private-network":
            private_network = value.decode("latin-1")
    return origin, host, private_network
