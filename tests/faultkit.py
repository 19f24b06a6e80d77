"""Helpers for the fault tests: another host on loopback that records what reaches it, and
healing a simulator's faults between cases."""

from __future__ import annotations

import dataclasses
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from auditor.simulator.faults import Faults


class Recorder(ThreadingHTTPServer):
    """Another host (another port counts) on loopback: records every request and the
    headers it came with, and answers `[]`, which a client that followed it would read as
    an empty list."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _RecorderHandler)
        self.seen: list[tuple[str, dict[str, str]]] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _RecorderHandler(BaseHTTPRequestHandler):
    server: Recorder

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.seen.append((self.path, dict(self.headers.items())))
        body = b"[]"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def heal(faults: Faults) -> None:
    """Every knob back to GitLab's honest behaviour (the server keeps its Faults object)."""
    for f in dataclasses.fields(Faults):
        honest = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
        setattr(faults, f.name, honest)
