"""Webhook receivers for tests about attempts at the same time: a real HTTP server on loopback
that answers requests in parallel, whose first request waits for the test."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from pytest_httpserver import HTTPServer
from werkzeug import Response


class FirstRequestWaits:
    """A receiver's handler: the first request waits until the test sets `released`, the others
    answer at once; every answer is a 400 (a failure that is not retried)."""

    def __init__(self) -> None:
        self.arrived: list[str] = []
        self.released = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, request):
        with self._lock:
            self.arrived.append(request.headers["PayHealth-Webhook-Id"])
            first = len(self.arrived) == 1
        if first:
            self.released.wait(timeout=30)  # bounded: a test that never releases fails, not hangs
        return Response("no such hook", status=400)


@contextlib.contextmanager
def parallel_receiver() -> Iterator[tuple[HTTPServer, FirstRequestWaits]]:
    """A server answering /hook with FirstRequestWaits, one thread per request (as a real one does)."""
    server = HTTPServer(host="127.0.0.1", threaded=True)
    handler = FirstRequestWaits()
    server.expect_request("/hook").respond_with_handler(handler)
    server.start()
    try:
        yield server, handler
    finally:
        handler.released.set()
        server.clear()
        server.stop()
