"""`policywatch demo`: an offline tour — two dated versions of a sample policy, served on loopback,
checked into a throwaway database, judged, and shown with the message that would be sent."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SAMPLES = Path(__file__).parent / "samples"
VERSIONS = ("acme-2023.html", "acme-2024.html")


class _Server:
    """Serves one page at /privacy; ``page`` can be swapped between checks."""

    def __init__(self) -> None:
        self.page = b""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                body = outer.page
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/privacy"

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def run_demo(echo: Callable[[str], None], color: bool = False) -> int:
    from policywatch.document import Document
    from policywatch.judge import compare
    from policywatch.messages import compose_change
    from policywatch.monitor import check
    from policywatch.render import render_text
    from policywatch.store import Store
    from policywatch.watchlist import parse_watchlist

    with tempfile.TemporaryDirectory(prefix="policywatch-demo-") as folder, _Server() as server:
        watchlist = parse_watchlist(
            f"policies:\n  - id: acme-notes\n    name: Acme Notes Privacy Policy\n    url: {server.url}\n",
            Path(folder) / "watchlist.yaml")
        with Store.open(Path(folder) / "demo.db") as store:
            for number, name in enumerate(VERSIONS, 1):
                server.page = (SAMPLES / name).read_bytes()
                result = check(watchlist, store).results[0]
                echo(f"check {number}: {result.outcome} (version v{result.version}) — serving {name}")
            timeline = store.timeline("acme-notes")
            old = store.version_by_id(timeline[-1]["previous_version_id"])
            new = store.version_by_id(timeline[-1]["version_id"])
        diff, judgement = compare(Document.from_markdown(old["text"]), Document.from_markdown(new["text"]))
        echo("")
        echo(render_text(diff, judgement, "acme-notes v1 (March 2023)", "acme-notes v2 (February 2024)", color))
        message = compose_change(watchlist.policies[0], diff, judgement, new["captured_at"])
        echo("The message policywatch would send (e-mail, chat, webhook… via apprise):")
        echo("")
        echo(f"  Subject: {message.title}")
        echo("")
        echo("\n".join("  " + line if line else "" for line in message.markdown.splitlines()))
    echo("")
    echo("The demo database and server are gone. Next: edit watchlist.yaml, then `policywatch check`.")
    return 0
