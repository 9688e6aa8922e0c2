"""Real loopback receivers for notification tests: an HTTP webhook receiver and an SMTP server.

- ``HttpReceiver`` (fixtures ``http_receiver``, ``make_http_receiver``): a threaded http.server on
  127.0.0.1 recording every request (method, path, query, headers, body) with the body parsed the
  way apprise's ``json://`` (JSON) and ``form://`` (urlencoded or multipart form) targets send it.
  ``receiver.script(500, 200)`` sets the statuses of the next requests (then 200 again);
  ``receiver.delay`` (seconds) holds each answer back after the request was recorded.
  ``receiver.url("json", "/hook")`` → ``json://127.0.0.1:PORT/hook``.
- ``SmtpReceiver`` (fixtures ``smtp_receiver``, ``make_smtp_receiver``): aiosmtpd's Controller on a
  free 127.0.0.1 port, plain SMTP (no TLS), optionally with AUTH LOGIN/PLAIN allowed without TLS
  (``make_smtp_receiver(auth=("user", "password"))``). ``receiver.url()`` is the apprise
  ``mailto://`` URL for it: ``mailto://[user:password@]127.0.0.1:PORT?from=…&to=…`` (apprise's
  ``mailto`` scheme is insecure SMTP by default; ``mailtos`` would ask for STARTTLS/TLS).

Import the fixtures into a conftest (``from receivers import http_receiver, …``) or a test module.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import http.server
import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from loopback import LoopbackServer

# -- HTTP --------------------------------------------------------------------------------------------------


@dataclass
class Post:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    json: Any = None  # parsed application/json body
    form: dict[str, str] | None = None  # urlencoded or multipart fields (the last value of each)
    files: dict[str, tuple[str | None, bytes]] = field(default_factory=dict)  # multipart: name → (filename, data)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def fields(self) -> dict[str, Any]:
        """The notification fields whatever the encoding (JSON object or form)."""
        if isinstance(self.json, dict):
            return self.json
        return self.form or {}


def _parse_body(content_type: str, body: bytes) -> tuple[Any, dict[str, str] | None, dict]:
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/json" or (not kind and body[:1] in (b"{", b"[")):
        try:
            return json.loads(body.decode("utf-8")), None, {}
        except (UnicodeDecodeError, ValueError):
            return None, None, {}
    if kind == "application/x-www-form-urlencoded":
        return None, dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True)), {}
    if kind == "multipart/form-data":
        message = email.message_from_bytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body,
                                           policy=email.policy.HTTP)
        form: dict[str, str] = {}
        files: dict[str, tuple[str | None, bytes]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            data = part.get_payload(decode=True) or b""
            if part.get_filename():
                files[str(name)] = (part.get_filename(), data)
            else:
                form[str(name)] = data.decode(part.get_content_charset() or "utf-8", "replace")
        return None, form, files
    return None, None, {}


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HttpReceiver

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - no access log on stderr
        pass

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        headers = {k.lower(): v for k, v in self.headers.items()}
        parsed, form, files = _parse_body(headers.get("content-type", ""), body)
        status = self.server._record(Post(self.command, path, query, headers, body, parsed, form, files))
        if self.server.delay:
            time.sleep(self.server.delay)  # recorded, not yet answered: a sender killed now has sent it
        if status == 0:  # scripted 0: the connection closes without an answer (a crash, a proxy cut)
            self.close_connection = True
            return
        payload = b'{"ok": true}' if status < 400 else b'{"error": "scripted failure"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_PUT = do_GET = do_PATCH = do_DELETE = _record  # noqa: N815


class HttpReceiver(LoopbackServer):
    """Records every request; answers the scripted statuses in turn, then ``default_status``."""

    def __init__(self, default_status: int = 200) -> None:
        super().__init__(_Handler)
        self.default_status = default_status
        self.delay = 0.0  # seconds between recording a request and answering it
        self.posts: list[Post] = []
        self._statuses: list[int] = []
        self._lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """No traceback when a sender stopped waiting before a (delayed) answer: that is what tests do."""
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)

    def url(self, scheme: str = "json", path: str = "/hook", userinfo: str = "", **query: str) -> str:
        """An apprise URL pointing here, e.g. ``url("form", "/f", format="html")``."""
        auth = f"{userinfo}@" if userinfo else ""
        return f"{scheme}://{auth}127.0.0.1:{self.port}{path}" + (f"?{urlencode(query)}" if query else "")

    def script(self, *statuses: int) -> None:
        """Answer the next requests with these statuses (then ``default_status``); 0 closes the
        connection without an answer."""
        with self._lock:
            self._statuses = list(statuses)

    def _record(self, post: Post) -> int:
        with self._lock:
            self.posts.append(post)
            return self._statuses.pop(0) if self._statuses else self.default_status

    def received(self, path: str | None = None) -> list[Post]:
        with self._lock:
            return [p for p in self.posts if path is None or p.path == path]

    def wait_for(self, count: int = 1, path: str | None = None, timeout: float = 10.0) -> list[Post]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = self.received(path)
            if len(seen) >= count:
                return seen
            time.sleep(0.01)
        raise AssertionError(f"expected {count} request(s) to {path or 'any path'} within {timeout}s")


@contextlib.contextmanager
def _running(kind: type) -> Iterator[Any]:
    """A factory of started ``kind`` receivers, each stopped at the end."""
    started: list[Any] = []

    def make(*args: Any, **options: Any) -> Any:
        receiver = kind(*args, **options).start()
        started.append(receiver)
        return receiver

    try:
        yield make
    finally:
        for receiver in started:
            receiver.stop()


@pytest.fixture
def make_http_receiver() -> Iterator[Any]:
    """``make(default_status=200)`` → a started HttpReceiver."""
    with _running(HttpReceiver) as make:
        yield make


@pytest.fixture
def http_receiver(make_http_receiver) -> HttpReceiver:
    return make_http_receiver()


# -- SMTP --------------------------------------------------------------------------------------------------


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    login: tuple[str, str] | None = None  # the credentials the client authenticated with

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    def body(self, subtype: str = "html") -> str:
        part = self.message.get_body(preferencelist=(subtype,))
        return part.get_content() if part is not None else ""

    @property
    def attachments(self) -> dict[str, bytes]:
        return {part.get_filename(): part.get_payload(decode=True) for part in self.message.iter_attachments()}


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpReceiver:
    """aiosmtpd on 127.0.0.1: plain SMTP, AUTH allowed without TLS when ``auth`` is given."""

    def __init__(self, auth: tuple[str, str] | None = None) -> None:
        self.auth = auth
        self.mails: list[Mail] = []
        self.failed_logins: list[str] = []
        self._lock = threading.Lock()
        self._controller = None
        self.port = 0

    # aiosmtpd handler hooks
    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        login = getattr(session, "auth_data", None)
        with self._lock:
            self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), message,
                                   login if isinstance(login, tuple) else None))
        return "250 OK"

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if isinstance(auth_data, LoginPassword) and self.auth is not None:
            login = (auth_data.login.decode(), auth_data.password.decode())
            if login == self.auth:
                return AuthResult(success=True, auth_data=login)
            with self._lock:
                self.failed_logins.append(login[0])
        return AuthResult(success=False, handled=False)

    def start(self) -> SmtpReceiver:
        from aiosmtpd.controller import Controller

        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs whole sessions at DEBUG
        for attempt in range(5):
            self.port = _free_port()
            kwargs: dict[str, Any] = {}
            if self.auth is not None:
                kwargs = {"authenticator": self._authenticate, "auth_require_tls": False}
            controller = Controller(self, hostname="127.0.0.1", port=self.port, ready_timeout=5, **kwargs)
            try:
                controller.start()
            except (OSError, RuntimeError):  # the port was taken between probe and bind
                if attempt == 4:
                    raise
                continue
            self._controller = controller
            return self
        raise RuntimeError("no free port for the SMTP receiver")

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def url(self, to: str = "team@example.com", sender: str = "policywatch@example.com",
            user: str | None = None, password: str | None = None, **query: str) -> str:
        """apprise URL for this server: ``mailto://[user:password@]127.0.0.1:PORT?from=…&to=…``."""
        auth = f"{user}:{password}@" if user is not None and password is not None else ""
        params = urlencode({"from": sender, "to": to, **query})
        return f"mailto://{auth}127.0.0.1:{self.port}?{params}"

    def wait_for(self, count: int = 1, timeout: float = 10.0) -> list[Mail]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.mails) >= count:
                    return list(self.mails)
            time.sleep(0.01)
        raise AssertionError(f"expected {count} mail(s) within {timeout}s, got {len(self.mails)}")


@pytest.fixture
def make_smtp_receiver() -> Iterator[Any]:
    """``make(auth=None)`` → a started SmtpReceiver."""
    with _running(SmtpReceiver) as make:
        yield make


@pytest.fixture
def smtp_receiver(make_smtp_receiver) -> SmtpReceiver:
    return make_smtp_receiver()
