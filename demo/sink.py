"""A local alert sink for the demo: receives apprise `json://` posts on 127.0.0.1, prints each
alert as it arrives, and keeps them as JSON lines and as an HTML page."""

from __future__ import annotations

import html
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class AlertSink:
    """An HTTP endpoint that apprise can deliver to (json://127.0.0.1:PORT/alerts)."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        self.jsonl = out_dir / "alerts.jsonl"
        self.html = out_dir / "alerts.html"
        self.jsonl.write_text("")
        self.alerts: list[dict] = []
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                length = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(length) or b"{}")
                sink.received(payload)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/alerts"

    def received(self, payload: dict) -> None:
        payload = {"received_at": time.strftime("%H:%M:%S"), **payload}
        with self.lock:
            self.alerts.append(payload)
            with self.jsonl.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(payload, ensure_ascii=False) + "\n")
            self._write_html()
        title = payload.get("title", "")
        lines = [ln for ln in str(payload.get("message", "")).splitlines() if ln.strip()]
        print(f"\n  >>> ALERT {payload['received_at']}  {title}", flush=True)
        for line in lines[:14]:
            print(f"      {line}", flush=True)
        if len(lines) > 14:
            print(f"      ... ({len(lines) - 14} more lines in {self.html})", flush=True)

    def count(self, text: str = "") -> int:
        with self.lock:
            return sum(1 for a in self.alerts
                       if text in a.get("title", "") or text in a.get("message", ""))

    def _write_html(self) -> None:
        items = "".join(
            f"<article><h2>{html.escape(a.get('title', ''))}</h2>"
            f"<p class=at>received {html.escape(a['received_at'])}</p>"
            f"<pre>{html.escape(str(a.get('message', '')))}</pre></article>"
            for a in reversed(self.alerts))
        self.html.write_text(
            "<!doctype html><meta charset=utf-8><title>claimwatch demo alerts</title>"
            "<style>body{font:15px system-ui;max-width:60em;margin:2em auto}"
            "pre{white-space:pre-wrap;background:#f6f6f6;padding:1em}.at{color:#666}</style>"
            f"<h1>Alerts received ({len(self.alerts)})</h1>{items}", encoding="utf-8")

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
