"""`billow` commands as a user runs them: migrate, org create, and serve's first start."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BILLOW = [sys.executable, "-m", "billow.cli"]


def _env(db: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLOW_")}
    env["BILLOW_DATABASE_URL"] = f"sqlite:///{db}"
    env.update(extra)
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "billow serve exited"
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("billow serve did not become healthy")


def test_org_create_prints_a_working_key() -> None:
    db = Path(tempfile.mkdtemp()) / "cli.db"
    out = subprocess.run([*BILLOW, "org", "create", "--name", "Acme"], env=_env(db), capture_output=True, text=True, check=True)
    key = re.search(r"API key \(shown once, keep it safe\): (\S+)", out.stdout).group(1)
    listed = subprocess.run([*BILLOW, "org", "list"], env=_env(db), capture_output=True, text=True, check=True)
    assert "Acme" in listed.stdout

    port = _free_port()
    proc = subprocess.Popen([*BILLOW, "serve", "--port", str(port)], env=_env(db), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, proc)
        assert httpx.get(f"{url}/api/v1/organizations", headers={"Authorization": f"Bearer {key}"}).json()["organization"]["name"] == "Acme"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    # The database was not empty, so serve created no other organization.
    listed = subprocess.run([*BILLOW, "org", "list"], env=_env(db), capture_output=True, text=True, check=True)
    assert len(listed.stdout.strip().splitlines()) == 1


def test_first_start_bootstraps_with_the_given_key() -> None:
    db = Path(tempfile.mkdtemp()) / "serve.db"
    port = _free_port()
    env = _env(db, BILLOW_ORG_API_KEY="my-chosen-key", BILLOW_ORG_NAME="Bootstrapped")
    proc = subprocess.Popen([*BILLOW, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, proc)
        ok = httpx.get(f"{url}/api/v1/organizations", headers={"Authorization": "Bearer my-chosen-key"})
        assert ok.status_code == 200
        assert ok.json()["organization"]["name"] == "Bootstrapped"
        assert httpx.get(f"{url}/api/v1/organizations", headers={"Authorization": "Bearer other"}).status_code == 401
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=10)
    assert "my-chosen-key" not in output  # a key given by the operator is never echoed


def test_first_start_without_key_prints_one_once() -> None:
    db = Path(tempfile.mkdtemp()) / "serve.db"
    out = subprocess.run([*BILLOW, "migrate"], env=_env(db), capture_output=True, text=True, check=True)
    assert "latest revision" in out.stdout
    port = _free_port()
    proc = subprocess.Popen([*BILLOW, "serve", "--port", str(port)], env=_env(db), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, proc)
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=10)
    key = re.search(r"API key \(shown once, keep it safe\): (\S+)", output).group(1)
    # The key works, and only its digest is stored.
    assert key.encode() not in db.read_bytes()
    port = _free_port()
    proc = subprocess.Popen([*BILLOW, "serve", "--port", str(port)], env=_env(db), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, proc)
        assert httpx.get(f"{url}/api/v1/taxes", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    finally:
        proc.terminate()
        second_output, _ = proc.communicate(timeout=10)
    assert "API key" not in second_output


def test_serve_takes_its_own_address_as_public_url_unless_one_is_set() -> None:
    from billow.cli import served_settings
    from billow.config import Settings

    assert served_settings(Settings(), "127.0.0.1", 3099).api_url == "http://127.0.0.1:3099"
    assert served_settings(Settings(), "0.0.0.0", 8080).api_url == "http://127.0.0.1:8080"
    given = Settings(api_url="https://billing.example.com")
    assert served_settings(given, "0.0.0.0", 8080).api_url == "https://billing.example.com"
