"""The threaded loopback HTTP server every test server builds on (routes, receivers, the pywb proxy)."""

from __future__ import annotations

import http.server
import threading


class LoopbackServer(http.server.ThreadingHTTPServer):
    """A threaded HTTP server on a free 127.0.0.1 port, served from a background thread."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(5)
