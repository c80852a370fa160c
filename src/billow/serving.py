"""`billow serve --workers N`: N server processes on one port, each with a listening socket of its
own (``SO_REUSEPORT``).

With one socket shared by every process, whichever process wakes first accepts: keep-alive
clients that connect together tend to land on one process while the others idle. With a socket
per process the kernel spreads new connections over the processes. The parent keeps the
processes running (a process that dies is started again) and stops them on SIGTERM/SIGINT; a
process whose parent is gone stops itself.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from multiprocessing.process import BaseProcess
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_log = logging.getLogger("billow.serving")
_APP = "billow.main:create_app"


class _OneSend:
    """A transport whose writes of one turn of the event loop leave in one send."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data if isinstance(data, bytes) else bytes(data))  # a buffer may change before the flush

    def flush(self) -> None:
        if self._pending:
            data, self._pending = b"".join(self._pending), []
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol, with a response's head and body sent together: uvicorn writes
    each as the application hands it over, a send (and a wake-up of the client) each."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_OneSend(transport, self.loop))  # type: ignore[arg-type]


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) that other processes may bind too (``SO_REUSEPORT``)."""
    family, kind, protocol, _name, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, protocol)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.set_inheritable(True)
    return sock


def settle_heap() -> None:
    """Leave everything built so far (modules, the application, its caches) out of the garbage
    collector's passes for good: a full pass otherwise walks all of it, and held some ingest
    requests for tens of milliseconds (the batch p99 went from about 150 ms to 50-70 ms)."""
    gc.collect()
    gc.freeze()


def _leave_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's own handler: finish requests in hand, then exit


def _serve_one(host: str, port: int, log_level: str, parent: int) -> None:
    import uvicorn

    threading.Thread(target=_leave_with_parent, args=(parent,), name="billow-parent-watch", daemon=True).start()
    config = uvicorn.Config(_APP, factory=True, log_level=log_level, http=HttpProtocol)
    config.load()
    settle_heap()
    uvicorn.Server(config).run(sockets=[listening_socket(host, port)])


def serve_processes(host: str, port: int, workers: int, log_level: str) -> None:
    """Run ``workers`` server processes until SIGTERM or SIGINT; each builds its app from the
    ``BILLOW_*`` environment."""
    context = multiprocessing.get_context("spawn")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    def start() -> BaseProcess:
        process = context.Process(target=_serve_one, args=(host, port, log_level, os.getpid()), daemon=False)
        process.start()
        return process

    processes = [start() for _ in range(workers)]
    print(f"Serving on {host}:{port} with {workers} processes.", flush=True)
    while not stop.wait(0.5):
        for index, process in enumerate(processes):
            if not process.is_alive():
                _log.warning("server process %s exited with %s; starting another", process.pid, process.exitcode)
                processes[index] = start()
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=30)
        if process.is_alive():
            process.kill()
            process.join()
