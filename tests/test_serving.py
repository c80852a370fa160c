"""`billow serve --workers N`: a listening socket per process on one port, kept running by the
parent, stopped with it."""

from __future__ import annotations

import asyncio
import os
import select
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from billow.serving import listening_socket
from tests.test_cli import BILLOW, _env, _free_port, _wait_healthy

KEY = "serving-test-key"


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def _servers(pid: int) -> list[int]:
    """The server processes started by ``pid`` (not multiprocessing's resource tracker)."""
    return [child for child in _children(pid) if "spawn_main" in _cmdline(child)]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait(condition, seconds: float = 20) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_sockets_of_one_port_each_take_connections() -> None:
    port = _free_port()
    first, second = listening_socket("127.0.0.1", port), listening_socket("127.0.0.1", port)
    clients = []
    try:
        for sock in (first, second):
            sock.listen(64)
            sock.setblocking(False)
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
        accepted = {first: 0, second: 0}
        deadline = time.monotonic() + 5
        while sum(accepted.values()) < len(clients) and time.monotonic() < deadline:
            ready, _, _ = select.select([first, second], [], [], 0.5)
            for sock in ready:
                connection, _ = sock.accept()
                connection.close()
                accepted[sock] += 1
        assert sum(accepted.values()) == 40
        assert accepted[first] > 0 and accepted[second] > 0  # all 40 on one: odds of 2 in 2**40
    finally:
        for client in clients:
            client.close()
        first.close()
        second.close()


def _serve(workers: int) -> tuple[subprocess.Popen[str], str]:
    db = Path(tempfile.mkdtemp()) / "serving.db"
    port = _free_port()
    proc = subprocess.Popen([*BILLOW, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
                            env=_env(db, BILLOW_ORG_API_KEY=KEY, BILLOW_LOG_LEVEL="warning"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    _wait_healthy(url, proc)
    return proc, url


def test_workers_serve_one_port_and_stop_with_sigterm() -> None:
    proc, url = _serve(2)
    try:
        assert _wait(lambda: len(_servers(proc.pid)) == 2)
        children = _servers(proc.pid)
        headers = {"Authorization": f"Bearer {KEY}"}
        for index in range(20):  # a connection each: the processes share them
            with httpx.Client(base_url=url, headers=headers) as client:
                body = {"event": {"transaction_id": f"tx-{index}", "external_subscription_id": "sub", "code": "calls"}}
                assert client.post("/api/v1/events", json=body).status_code == 200
        with httpx.Client(base_url=url, headers=headers) as client:
            listed = client.get("/api/v1/events", params={"per_page": 100}).json()["events"]
        assert sorted(event["transaction_id"] for event in listed) == sorted(f"tx-{index}" for index in range(20))

        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert proc.returncode == 0
        assert not any(_alive(child) for child in children)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_dead_worker_is_replaced_and_workers_leave_with_their_parent() -> None:
    proc, url = _serve(2)
    try:
        assert _wait(lambda: len(_servers(proc.pid)) == 2)
        killed = _servers(proc.pid)[0]
        os.kill(killed, signal.SIGKILL)
        assert _wait(lambda: killed not in _servers(proc.pid) and len(_servers(proc.pid)) == 2)
        assert _wait(lambda: httpx.get(f"{url}/health").status_code == 200)

        children = _servers(proc.pid)
        proc.kill()  # SIGKILL: the parent cannot stop them; each notices it is gone
        proc.wait()
        assert _wait(lambda: not any(_alive(child) for child in children))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class _Transport:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.sent.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


def test_writes_of_one_loop_turn_leave_in_one_send() -> None:
    from billow.serving import _OneSend

    async def story() -> _Transport:
        transport = _Transport()
        one = _OneSend(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
        one.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        one.write(bytearray(b"{}"))
        assert transport.sent == []  # not before the turn ends
        await asyncio.sleep(0)
        assert transport.sent == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
        one.write(b"next")
        one.close()  # what is pending goes out first
        assert transport.sent[-1] == b"next" and transport.closed
        assert one.get_extra_info("peername") == "info:peername"  # the rest is the transport's own
        await asyncio.sleep(0)
        assert len(transport.sent) == 2  # the scheduled flush finds nothing left
        return transport

    asyncio.run(story())

