"""A real n8n (the pinned one in airflow/n8n/node_modules) with the project's workflows, on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

PROJECT_ROOT = Path(__file__).resolve().parents[2]
N8N_DIR = PROJECT_ROOT / "airflow" / "n8n"
WORKFLOWS = N8N_DIR / "workflows"
SMTP_CREDENTIAL_ID = "SelloutSmtp00001"


def n8n_bin() -> Path:
    path = Path(os.environ.get("SELLOUT_N8N_BIN") or N8N_DIR / "node_modules" / ".bin" / "n8n")
    if not path.exists():
        pytest.fail(f"n8n is not installed at {path}: run `make test-n8n` (npm ci in airflow/n8n)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def workflow_ids() -> list[str]:
    return [json.loads(p.read_text())["id"] for p in sorted(WORKFLOWS.glob("*.json"))]


# What the container runtime provides and the compose file cannot: the volume n8n keeps its data in, and the
# addresses a container has to itself (its own port, its task runner's broker), here free ports on 127.0.0.1.
CONTAINER_SETTINGS = (
    "N8N_USER_FOLDER",
    "N8N_LISTEN_ADDRESS",
    "N8N_PORT",
    "N8N_RUNNERS_BROKER_PORT",
    "N8N_RUNNERS_BROKER_LISTEN_ADDRESS",
)


class N8n:
    """One n8n instance with ``environment`` (the n8n service's environment of airflow/docker-compose.yml, see
    tests/n8n/compose_env.py) and nothing else of n8n's settings but :data:`CONTAINER_SETTINGS`."""

    def __init__(self, home: Path, environment: dict[str, str]) -> None:
        self.home = home
        self.port = free_port()
        self.container = {
            "N8N_USER_FOLDER": str(home),
            "N8N_LISTEN_ADDRESS": "127.0.0.1",
            "N8N_PORT": str(self.port),
            "N8N_RUNNERS_BROKER_PORT": str(free_port()),
            "N8N_RUNNERS_BROKER_LISTEN_ADDRESS": "127.0.0.1",
        }
        assert set(self.container) == set(CONTAINER_SETTINGS)
        # The host's own variables (PATH, HOME ...) but none of n8n's: those come from the compose file only.
        host = {k: v for k, v in os.environ.items() if not k.startswith(("N8N_", "DB_"))}
        self.env = {**host, **environment, **self.container}
        self.process: subprocess.Popen | None = None
        self.log = home / "n8n.log"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/webhook/{path}"

    def cli(self, *args: str) -> str:
        # Output goes to a file, never through a pipe that could fill (see platform-notes on n8n's CLI).
        out = self.home / "cli.log"
        with out.open("ab") as handle:
            done = subprocess.run(
                [str(n8n_bin()), *args],
                check=False,
                env=self.env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                timeout=180,
            )
        if done.returncode != 0:
            raise AssertionError(f"n8n {' '.join(args)} failed:\n{out.read_text()[-3000:]}")
        return out.read_text()

    def start(self) -> None:
        handle = self.log.open("wb")
        self.process = subprocess.Popen(
            [str(n8n_bin()), "start"],
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the task runner stops with it
        )
        deadline = time.monotonic() + 90
        expected = len(workflow_ids())
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"n8n exited:\n{self.log.read_text()[-3000:]}")
            if self.log.read_text(errors="replace").count("Activated workflow") >= expected:
                try:
                    requests.get(
                        f"http://127.0.0.1:{self.port}/healthz/readiness", timeout=2
                    ).raise_for_status()
                    return
                except requests.RequestException:
                    pass
            time.sleep(0.3)
        raise AssertionError(f"n8n not ready after 90 s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process = None


def deploy(n8n: N8n, smtp: dict) -> None:
    """What an operator does once: import the workflows and the SMTP credential, publish, start."""
    credentials = n8n.home / "credentials.json"
    credentials.write_text(
        json.dumps(
            [
                {
                    "id": SMTP_CREDENTIAL_ID,
                    "name": "sellout SMTP",
                    "type": "smtp",
                    "data": {
                        "user": smtp["user"],
                        "password": smtp["password"],
                        "host": smtp["host"],
                        "port": smtp["port"],
                        "secure": False,
                        "disableStartTls": True,
                    },
                }
            ]
        ),
        "utf-8",
    )
    n8n.cli("import:workflow", "--separate", f"--input={WORKFLOWS}")
    n8n.cli("import:credentials", f"--input={credentials}")
    credentials.unlink()  # it holds the SMTP password in clear text
    for workflow_id in workflow_ids():
        n8n.cli("publish:workflow", f"--id={workflow_id}")
    n8n.start()
