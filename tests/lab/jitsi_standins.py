"""Stand-ins for jicofo's and the videobridge's HTTP endpoints (both are Java packages from
Jitsi's repository, which the test lab cannot install): a small HTTP server on loopback that
answers GET /about/health with a chosen status and GET /stats with chosen meeting counts.
Only the endpoints the wizard asks are served; nothing of the real services is imitated."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StandIn:
    """`StandIn(health=200, conferences=0, participants=0)`; `.url` is its base URL."""

    def __init__(self, *, health: int = 200, conferences: int = 0, participants: int = 0):
        self.health = health
        self.stats = {"conferences": conferences, "participants": participants}
        self.asked: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                owner.asked.append(self.path)
                if self.path == "/about/health":
                    status, body = owner.health, b"{}"
                elif self.path == "/stats":
                    status, body = 200, json.dumps(owner.stats).encode()
                else:
                    status, body = 404, b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
