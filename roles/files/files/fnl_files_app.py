"""fnl-deploy's shared files (role files): a WebDAV space per commune, behind nginx.

One WSGI process serves every commune of the server; the commune is the web name the
request came to (``mail.<domain>``). Its space is ``https://mail.<domain>/fichiers/``:

- the folders its tenant file declares (``Conseil municipal``: read by the council,
  written by the secretariat…), created and archived by the Ansible module ``fnl_files``;
- ``Personnel/<first part of the address>/``, each person's own folder, seen by them only.

People log in with their mail address and password, checked by Dovecot (the same accounts:
a disabled person is refused). Rights are enforced here, before WsgiDAV handles the
request: reading needs the folder's read or write right, any change its write right; the
top-level folders themselves cannot be created, renamed or deleted (the tenant file owns
them). A person of another commune is authenticated but has no right: 403. The commune's
quota refuses an upload that would exceed it (507 Insufficient Storage).

Settings: the JSON file given in ``FNL_FILES_SETTINGS`` (default
/etc/fnl-deploy/files.json), re-read when it changes::

    {"dovecot_socket": "/run/dovecot/auth-files",
     "communes": {"mail.example.fr": {"domain": "example.fr", "root": "/srv/fnl-files/example.fr",
        "quota_bytes": 10737418240, "people": {"marie@example.fr": "marie"},
        "folders": [{"name": "Conseil municipal", "read": ["…"], "write": ["…"]}]}}}

Runs under Debian's python3 with WsgiDAV (unpacked from its wheel) and cheroot.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import socket
import threading
import time
from typing import ClassVar
from urllib.parse import unquote, urlsplit

# WsgiDAV's modules import each other: the application first, or dav_error half-loads.
from wsgidav.wsgidav_app import WsgiDAVApp  # isort: skip

from wsgidav.dav_error import HTTP_FORBIDDEN, HTTP_INSUFFICIENT_STORAGE, DAVError
from wsgidav.dc.base_dc import BaseDomainController
from wsgidav.error_printer import ErrorPrinter
from wsgidav.fs_dav_provider import FilesystemProvider
from wsgidav.http_authenticator import HTTPAuthenticator
from wsgidav.mw.base_mw import BaseMiddleware
from wsgidav.request_resolver import RequestResolver

SHARE = "/fichiers"
PERSONAL = "Personnel"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PROPFIND"})
#: How long a checked password is trusted (WebDAV clients send many requests each).
AUTH_CACHE_SECONDS = 60
#: How long a commune's measured usage is reused between uploads.
USAGE_CACHE_SECONDS = 5


# --- Dovecot ----------------------------------------------------------------------------


def dovecot_login(socket_path: str, user: str, password: str, timeout: float = 10) -> bool:
    """True when Dovecot accepts this address and password (auth-client protocol 1.1)."""
    if any(c in user + password for c in "\t\n\r\0"):
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(socket_path)
        conn.sendall(f"VERSION\t1\t1\nCPID\t{os.getpid()}\n".encode())
        received = b""
        while b"\nDONE\n" not in received and not received.startswith(b"DONE\n"):
            chunk = conn.recv(4096)
            if not chunk:
                return False
            received += chunk
        response = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
        conn.sendall(f"AUTH\t1\tPLAIN\tservice=webdav\tsecured\tresp={response}\n".encode())
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = conn.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.startswith(b"OK\t1")


class DovecotDomainController(BaseDomainController):
    """Basic authentication against Dovecot; successes are remembered a minute."""

    # Shared by the communes' instances: a login is the same person everywhere.
    _cache: ClassVar[dict[str, float]] = {}
    _lock = threading.Lock()

    def __init__(self, wsgidav_app, config):
        super().__init__(wsgidav_app, config)
        self.socket_path = config["fnl_dovecot_socket"]

    def get_domain_realm(self, path_info, environ):
        return "Fichiers"

    def require_authentication(self, realm, environ):
        return True

    def supports_http_digest_auth(self):
        return False

    def basic_auth_user(self, realm, user_name, password, environ):
        user = user_name.strip().lower()
        key = hashlib.sha256(f"{user}\0{password}".encode()).hexdigest()
        now = time.monotonic()
        # The name rights are checked against, lower-cased like Dovecot's logins.
        environ["fnl.user"] = user
        with self._lock:
            if self._cache.get(key, 0) > now:
                return True
        if not dovecot_login(self.socket_path, user, password):
            return False
        with self._lock:
            self._cache[key] = now + AUTH_CACHE_SECONDS
        return True


# --- Rights and quota ---------------------------------------------------------------------


class Commune:
    """One commune's space: who may read and write which top-level folder."""

    def __init__(self, settings: dict):
        self.domain = settings["domain"]
        self.root = settings["root"]
        self.quota_bytes = int(settings["quota_bytes"])
        self.people: dict[str, str] = settings["people"]  # address -> personal folder
        self.folders = {f["name"]: f for f in settings["folders"]}
        self._usage = (0.0, 0)

    def rights(self, user: str | None, parts: list[str]) -> tuple[bool, bool]:
        """(may read, may write) at a path given as its segments below the share."""
        if user not in self.people:
            return False, False
        if not parts:
            return True, False
        top = parts[0]
        if top == PERSONAL:
            if len(parts) == 1:
                return True, False
            own = parts[1] == self.people[user]
            return own, own and len(parts) > 2
        folder = self.folders.get(top)
        if folder is None:
            return False, False
        write = user in folder["write"] and len(parts) > 1
        return write or user in folder["read"] or user in folder["write"], write

    def usage(self) -> int:
        """Bytes stored in the commune's space (measured at most every few seconds)."""
        measured_at, used = self._usage
        if time.monotonic() - measured_at < USAGE_CACHE_SECONDS:
            return used
        used = 0
        for directory, _dirs, files in os.walk(self.root):
            for name in files:
                # A file removed while counting counts for nothing.
                with contextlib.suppress(OSError):
                    used += os.lstat(os.path.join(directory, name)).st_size
        self._usage = (time.monotonic(), used)
        return used

    def size_of(self, parts: list[str]) -> int:
        path = os.path.join(self.root, *parts)
        if os.path.isfile(path):
            return os.path.getsize(path)
        return sum(
            os.path.getsize(os.path.join(d, f)) for d, _s, files in os.walk(path) for f in files
        )


def segments(path: str) -> list[str]:
    """The segments of a path below the share (/fichiers/a/b -> [a, b])."""
    path = path[len(SHARE) :] if path.startswith(SHARE) else path
    return [p for p in path.split("/") if p and p != "."]


class RightsAndQuota(BaseMiddleware):
    """Refuses what the person may not do, before WsgiDAV touches a file."""

    def __call__(self, environ, start_response):
        commune: Commune = self.config["fnl_commune"]
        user = environ.get("fnl.user") or (environ.get("wsgidav.auth.user_name") or "").lower()
        method = environ["REQUEST_METHOD"].upper()
        parts = segments(environ.get("PATH_INFO", ""))
        if any(p == ".." for p in parts):
            raise DAVError(HTTP_FORBIDDEN)
        may_read, may_write = commune.rights(user, parts)
        if method in READ_METHODS:
            if not may_read:
                raise DAVError(HTTP_FORBIDDEN)
            return self.next_app(environ, start_response)
        # A copy only reads its source; every other change writes where it happens.
        if not (may_read if method == "COPY" else may_write):
            raise DAVError(HTTP_FORBIDDEN)
        target = None
        if method in ("COPY", "MOVE"):
            destination = segments(unquote(urlsplit(environ.get("HTTP_DESTINATION", "")).path))
            if not commune.rights(user, destination)[1]:
                raise DAVError(HTTP_FORBIDDEN)
            target = destination
        if method == "PUT":
            room = commune.quota_bytes - commune.usage()
            if not environ.get("CONTENT_LENGTH"):
                # Chunked (macOS Finder, davfs2): no size announced, counted as it comes.
                environ["wsgi.input"] = QuotaInput(environ["wsgi.input"], room)
                return self._put_within_quota(environ, start_response, commune, parts)
            if int(environ["CONTENT_LENGTH"]) > room:
                raise DAVError(HTTP_INSUFFICIENT_STORAGE, "quota de la commune atteint")
        elif (
            method == "COPY"
            and target is not None
            and commune.usage() + commune.size_of(parts) > commune.quota_bytes
        ):
            raise DAVError(HTTP_INSUFFICIENT_STORAGE, "quota de la commune atteint")
        return self.next_app(environ, start_response)

    def _put_within_quota(self, environ, start_response, commune, parts):
        try:
            yield from self.next_app(environ, start_response)
        except DAVError as error:
            if error.value == HTTP_INSUFFICIENT_STORAGE:
                # What was written before the quota ran out is no one's file.
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(commune.root, *parts))
            raise


class QuotaInput:
    """A request body that refuses (507) the bytes beyond what the quota leaves."""

    def __init__(self, stream, room: int):
        self.stream = stream
        self.room = room

    def _count(self, data: bytes) -> bytes:
        self.room -= len(data)
        if self.room < 0:
            raise DAVError(HTTP_INSUFFICIENT_STORAGE, "quota de la commune atteint")
        return data

    def read(self, size: int = -1) -> bytes:
        return self._count(self.stream.read(size))

    def readline(self, size: int = -1) -> bytes:
        return self._count(self.stream.readline(size))


class CommuneProvider(FilesystemProvider):
    """The commune's directory; listings of / and Personnel/ show only what one may read."""

    def __init__(self, commune: Commune):
        super().__init__(commune.root)
        self.commune = commune

    def get_resource_inst(self, path, environ):
        resource = super().get_resource_inst(path, environ)
        parts = segments(path)
        if resource is not None and resource.is_collection:
            # RFC 4331, which Windows and macOS show: the commune's quota, not the disk's.
            commune = self.commune
            resource.get_used_bytes = commune.usage
            resource.get_available_bytes = lambda: max(0, commune.quota_bytes - commune.usage())
        if resource is not None and resource.is_collection and parts in ([], [PERSONAL]):
            user = environ.get("fnl.user") or (environ.get("wsgidav.auth.user_name") or "")
            names = resource.get_member_names
            resource.get_member_names = lambda: [
                name
                for name in names()
                if not name.startswith(".") and self.commune.rights(user.lower(), [*parts, name])[0]
            ]
        return resource


# --- The application --------------------------------------------------------------------


class FilesApp:
    """Dispatches each request to its commune's WsgiDAV application (by web name)."""

    def __init__(self, settings_path: str):
        self.settings_path = settings_path
        self._loaded: tuple[float, dict] = (-1.0, {})
        self._apps: dict[str, WsgiDAVApp] = {}
        self._lock = threading.Lock()

    def _settings(self) -> dict:
        mtime = os.stat(self.settings_path).st_mtime
        with self._lock:
            if mtime != self._loaded[0]:
                with open(self.settings_path, encoding="utf-8") as source:
                    self._loaded = (mtime, json.load(source))
                self._apps = {}
            return self._loaded[1]

    def _app_for(self, host: str, settings: dict) -> WsgiDAVApp | None:
        with self._lock:
            app = self._apps.get(host)
            if app is not None:
                return app
            commune_settings = settings["communes"].get(host)
            if commune_settings is None:
                return None
            commune = Commune(commune_settings)
            app = WsgiDAVApp(
                {
                    "provider_mapping": {SHARE: CommuneProvider(commune)},
                    "http_authenticator": {
                        "domain_controller": DovecotDomainController,
                        "accept_basic": True,
                        "accept_digest": False,
                        "default_to_digest": False,
                    },
                    "middleware_stack": [
                        ErrorPrinter,
                        HTTPAuthenticator,
                        RightsAndQuota,
                        "wsgidav.dir_browser.WsgiDavDirBrowser",
                        RequestResolver,
                    ],
                    "dir_browser": {
                        "enable": True,
                        "davmount": False,
                        "ms_sharepoint_support": False,
                        "response_trailer": False,
                        "show_user": True,
                        "icon": False,
                    },
                    # Locks let Windows, macOS and LibreOffice write; kept in memory.
                    "lock_storage": True,
                    "property_manager": True,
                    "verbose": 1,
                    "logging": {"enable": True, "enable_loggers": []},
                    "fnl_commune": commune,
                    "fnl_dovecot_socket": settings["dovecot_socket"],
                }
            )
            self._apps[host] = app
            return app

    def __call__(self, environ, start_response):
        # Only nginx reaches 127.0.0.1: its word on the scheme is trusted, so that the
        # https:// Destination of a COPY or MOVE matches the request's own URL.
        if environ.get("HTTP_X_FORWARDED_PROTO") == "https":
            environ["wsgi.url_scheme"] = "https"
        settings = self._settings()
        host = environ.get("HTTP_HOST", "").rsplit(":", 1)[0].lower()
        app = self._app_for(host, settings)
        if app is None:
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"No shared files here.\n"]
        return app(environ, start_response)


def main() -> None:
    """Serve on 127.0.0.1 (nginx adds TLS in front), with cheroot."""
    from cheroot import wsgi

    settings = os.environ.get("FNL_FILES_SETTINGS", "/etc/fnl-deploy/files.json")
    port = int(os.environ.get("FNL_FILES_PORT", "8091"))
    server = wsgi.Server(("127.0.0.1", port), FilesApp(settings), numthreads=8)
    try:
        server.start()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
