"""Real notification receivers on 127.0.0.1 for the tests: an SMTP server and a JSON webhook.

Both bind an ephemeral port, record what they accept, and can be taken down, made to fail, or
made to hold a message (to kill a sender in the middle of a send). `wait_until` polls a
condition with a deadline instead of sleeping.
"""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


def wait_until(condition: Callable[[], Any], timeout: float = 10.0, what: str = "condition"
               ) -> Any:
    """Poll `condition` until it is truthy; its value, or AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.01)


# ---------------------------------------------------------------------------- JSON webhook

@dataclass
class Received:
    """One accepted webhook call."""

    path: str
    authorization: str | None
    payload: dict[str, Any]

    @property
    def title(self) -> str:
        return self.payload.get("title", "")

    @property
    def message(self) -> str:
        return self.payload.get("message", "")


@dataclass
class JsonReceiver:
    """An HTTP server for apprise's json:// that records each accepted POST.

    `fail_with` answers every call with that status; `hold_at=n` holds the n-th call (1-based)
    until `release()`: `holding` is set while it waits, and a held call is not recorded (it
    never got an answer, so it was never accepted)."""

    port: int = 0
    fail_with: int | None = None
    hold_at: int | None = None
    received: list[Received] = field(default_factory=list)
    calls: int = 0

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.holding = threading.Event()
        self._release = threading.Event()
        self.server: ThreadingHTTPServer | None = None
        self.start()

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                receiver._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()

    def stop(self) -> None:
        """Take the receiver down: connections are refused until `start()`."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def release(self) -> None:
        self._release.set()

    def url(self, path: str = "/hook", userinfo: str = "") -> str:
        return f"json://{userinfo}127.0.0.1:{self.port}{path}"

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        with self.lock:
            self.calls += 1
            number = self.calls
        if self.hold_at == number:
            self.holding.set()
            self._release.wait(30)
            h.close_connection = True
            return  # no answer: the sender is gone, nothing was accepted
        if self.fail_with:
            h.send_response(self.fail_with)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        with self.lock:
            self.received.append(Received(h.path, h.headers.get("Authorization"),
                                          json.loads(body)))
        h.send_response(200)
        h.send_header("Content-Length", "2")
        h.end_headers()
        h.wfile.write(b"{}")

    def __enter__(self) -> JsonReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self.stop()


# ---------------------------------------------------------------------------- SMTP

@dataclass
class Mail:
    """One accepted e-mail."""

    sender: str
    recipients: list[str]
    subject: str
    text: str
    html: str


class _Controller(Controller):
    """aiosmtpd's Controller on an ephemeral port (it cannot take port 0 by itself)."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpReceiver:
    """An SMTP server on 127.0.0.1 that accepts and records every message."""

    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self.lock = threading.Lock()
        self.controller = _Controller(self, hostname="127.0.0.1", port=0)
        self.controller.start()
        self.port = self.controller.port

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        text = html = ""
        for part in msg.walk():
            if part.get_content_type() == "text/plain":
                text = part.get_content()
            elif part.get_content_type() == "text/html":
                html = part.get_content()
        with self.lock:
            self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos),
                                   str(msg["Subject"]), text, html))
        return "250 Message accepted for delivery"

    def url(self, to: str = "reviewer@example.org") -> str:
        return (f"mailto://127.0.0.1:{self.port}?mode=insecure&from=claimwatch@example.org"
                f"&to={to}")

    def close(self) -> None:
        self.controller.stop()

    def __enter__(self) -> SmtpReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
