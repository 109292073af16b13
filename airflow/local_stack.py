"""Airflow's own services from the project's environment, on 127.0.0.1: ``make airflow-up`` / ``make airflow-down``.

    python airflow/local_stack.py up [--executor local|celery] [--workers 2] [--home DIR]
    python airflow/local_stack.py status | down [--home DIR]
    python airflow/local_stack.py trigger [--week 2026-W09] [--conf '{"mode": "full"}']   (waits, prints the states)

What runs: ``airflow api-server``, ``scheduler``, ``dag-processor`` and ``triggerer`` (and with the CeleryExecutor a
Redis broker -- Debian's ``redis-server`` -- and ``--workers`` Celery workers), each in its own process group with
its log in ``<home>/logs/<service>.log``. Airflow's metadata lives in a PostgreSQL database ``airflow`` on an
embedded server (``sellout.integrations.embedded_db``) under ``<home>/pg``, reached over its Unix socket only. Every
port is on 127.0.0.1 (the log servers are off: every service reads the task logs from ``<home>/logs``). The DAG is
the project's ``airflow/dags/sellout_dag.py``, read in place (``make dag`` then shows up without a restart). The
tasks read the project's configuration as ``kedro run`` does (``.env``, ``SELLOUT_*`` variables, the embedded
business database under ``data/postgres`` unless ``SELLOUT_DB_URL`` says otherwise).

The UI and the REST API: http://127.0.0.1:<port> (``status`` prints it), user ``admin``; the generated password is in
``<home>/simple_auth_manager_passwords.json``. ``source <home>/env.sh`` points the ``airflow`` CLI at the stack.

``tests/airflow/test_scheduler.py`` (``make test-airflow``) starts the same stack with :class:`LocalStack` and runs
the DAG through the REST API on both executors. Every wait here polls a state (an HTTP answer, a process, Celery's
ping) until an overall deadline; none sleeps for a fixed time to let something happen.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import psycopg
import requests
import yaml
from cryptography.fernet import Fernet

from sellout.integrations import embedded_db

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DAGS_FOLDER = PROJECT_ROOT / "airflow" / "dags"
DEFAULT_HOME = PROJECT_ROOT / "airflow" / ".airflow_home"
BIN = Path(sys.executable).parent
DAG_ID = "sellout"
ADMIN = "admin"
METADATA_DB = "airflow"
SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")
FINISHED = {"success", "failed"}
START_TIMEOUT_S = float(os.environ.get("SELLOUT_AIRFLOW_START_TIMEOUT_S", "600"))
STOP_TIMEOUT_S = 60.0
POLL_S = 0.5


class StackError(RuntimeError):
    """The stack did not start, or a service died; the message names the service and ends with its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(
    condition: Callable[[], Any], what: str, timeout_s: float, check: Callable[[], None] | None = None
):
    """Poll ``condition`` until it returns something truthy; ``check`` raises when waiting is pointless."""
    deadline = time.monotonic() + timeout_s
    while True:
        if check is not None:
            check()
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise StackError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(POLL_S)


@dataclass
class LocalStack:
    """One Airflow stack under ``home``; :meth:`start` / :meth:`stop`, or ``with LocalStack(...) as stack``."""

    home: Path = DEFAULT_HOME
    executor: str = "local"  # local | celery
    workers: int = 2  # Celery workers (concurrency 1 each)
    extra_env: Mapping[str, str] = field(default_factory=dict)
    parallelism: int = 2
    processes: dict[str, subprocess.Popen] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.executor not in ("local", "celery"):
            raise ValueError(f"executor is {self.executor!r}; use 'local' or 'celery'")
        self.home = Path(self.home).resolve()
        self.pgdata = self.home / "pg"
        self.logs = self.home / "logs"
        self.state_file = self.home / "stack.json"
        self._token: str | None = None
        self.business_db_started = False

    # -- configuration -------------------------------------------------------------------------------------

    def _configure(self) -> None:
        self.api_port = free_port()
        self.redis_port = free_port() if self.executor == "celery" else None
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self._secrets = {
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),  # HS512 wants 64 bytes or more
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        }
        if self.executor == "celery":
            self._secrets["SELLOUT_REDIS_PASSWORD"] = secrets.token_urlsafe(24)

    def env(self) -> dict[str, str]:
        """The environment of every service: the caller's, then the stack's settings (they win)."""
        socket_dir = quote(str(self.pgdata), safe="")
        metadata_url = f"postgresql+psycopg://postgres@/{METADATA_DB}?host={socket_dir}"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")},
            **self.extra_env,
            **self._secrets,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor" if self.executor == "celery" else "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.passwords_file),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": metadata_url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.logs / "tasks"),
            "AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY": str(self.logs / "dag_processor"),
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "KEDRO_DISABLE_TELEMETRY": "1",
            "DO_NOT_TRACK": "1",
            "COLUMNS": "200",  # Kedro's rich log handler wraps at the console width
        }
        if self.executor == "celery":
            broker = f"redis://:{self._secrets['SELLOUT_REDIS_PASSWORD']}@127.0.0.1:{self.redis_port}"
            env |= {
                "AIRFLOW__CELERY__BROKER_URL": f"{broker}/0",
                # The result backend of docker-compose.celery.yml: Airflow's metadata database.
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{metadata_url}",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
            }
        return env

    @property
    def passwords_file(self) -> Path:
        return self.home / "simple_auth_manager_passwords.json"

    # -- start and stop ------------------------------------------------------------------------------------

    def start(self, timeout_s: float = START_TIMEOUT_S) -> LocalStack:
        if self.state_file.exists() and _alive(json.loads(self.state_file.read_text()).get("pids", {})):
            raise StackError(f"a stack already runs from {self.home}: `python {__file__} down` first")
        self.home.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        self._configure()
        started = time.monotonic()
        try:
            self._start_business_db()
            self._start_metadata_db()
            self._run("db", "migrate")
            if self.executor == "celery":
                self._start_redis()
            for service in SERVICES:
                args = {"api-server": ["--host", "127.0.0.1", "--port", str(self.api_port)]}.get(service, [])
                if service in ("scheduler", "triggerer"):
                    args = ["--skip-serve-logs"]
                self._spawn(service, [str(BIN / "airflow"), service, *args])
            for number in range(1, self.workers + 1 if self.executor == "celery" else 1):
                self._spawn(
                    f"worker-{number}",
                    [str(BIN / "airflow"), "celery", "worker", "--concurrency", "1", "--skip-serve-logs",
                     "--celery-hostname", f"sellout-w{number}@%h"],
                )  # fmt: skip
            self._write_state()
            self._wait_until_ready(timeout_s - (time.monotonic() - started))
        except BaseException:
            self.stop()
            raise
        self.started_in_s = round(time.monotonic() - started, 1)
        return self

    def _start_business_db(self) -> None:
        """The tasks' database: SELLOUT_DB_URL when set, else the project's embedded server, which a run would start
        on its way in; the sensor only reads, so the stack starts it (and stops it again if it started it)."""
        self.business_db_started = False
        if self.env().get("SELLOUT_DB_URL"):
            return
        pgdata = self.env().get("SELLOUT_PGDATA") or None
        if not embedded_db.status(pgdata).running:
            embedded_db.start(pgdata)
            self.business_db_started = True

    def _start_metadata_db(self) -> None:
        admin_url = embedded_db.start(self.pgdata)  # the server's `sellout` database; Airflow gets its own
        with psycopg.connect(admin_url, autocommit=True) as conn:
            if not conn.execute("select 1 from pg_database where datname = %s", (METADATA_DB,)).fetchone():
                conn.execute(f'create database "{METADATA_DB}"')

    def _start_redis(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            raise StackError(
                "redis-server is not installed: the CeleryExecutor needs a broker "
                "(Debian: `apt-get update && apt-get install -y redis-server`)"
            )
        (self.home / "redis").mkdir(exist_ok=True)
        config = self.home / "redis" / "redis.conf"
        config.write_text(
            "bind 127.0.0.1\nprotected-mode yes\n"
            f"port {self.redis_port}\nrequirepass {self._secrets['SELLOUT_REDIS_PASSWORD']}\n"
            f'dir {self.home / "redis"}\nsave ""\nappendonly no\ndaemonize no\n',
            encoding="utf-8",
        )
        config.chmod(0o600)
        self._spawn("redis", [server, str(config)])

    def _spawn(self, name: str, argv: list[str]) -> None:
        with (self.logs / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                argv,
                env=self.env(),
                cwd=self.home,  # not the project root: the DAG must find the project by itself
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends it with its children
            )

    def _run(self, *args: str) -> None:
        log = self.logs / f"airflow-{'-'.join(args)}.log"
        with log.open("ab") as handle:
            done = subprocess.run(
                [str(BIN / "airflow"), *args], env=self.env(), cwd=self.home, stdout=handle,
                stderr=subprocess.STDOUT, check=False,
            )  # fmt: skip
        if done.returncode:
            raise StackError(f"airflow {' '.join(args)} exited {done.returncode}:\n{_tail(log)}")

    def _check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise StackError(
                    f"{name} exited with {process.returncode}:\n{_tail(self.logs / f'{name}.log')}"
                )

    def _wait_until_ready(self, timeout_s: float) -> None:
        def healthy() -> bool:
            try:
                health = requests.get(f"{self.api_url}/api/v2/monitor/health", timeout=5).json()
            except (requests.RequestException, ValueError):
                return False
            parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
            return all((health.get(part) or {}).get("status") == "healthy" for part in parts)

        wait_until(healthy, "the api-server to report every service healthy", timeout_s, self._check_alive)
        wait_until(
            self._dag_parsed, f"the dag-processor to parse the {DAG_ID} DAG", timeout_s, self._check_alive
        )
        if self.executor == "celery":
            wait_until(
                lambda: len(self.celery_workers()) == self.workers,
                f"{self.workers} Celery workers to answer a ping",
                timeout_s,
                self._check_alive,
            )

    def _dag_parsed(self) -> bool:
        errors = self.api("GET", "/api/v2/importErrors").json()
        if errors.get("total_entries"):
            messages = "\n".join(e.get("stack_trace", "")[-2000:] for e in errors["import_errors"])
            raise StackError(f"the DAG folder has import errors:\n{messages}")
        return self.api("GET", f"/api/v2/dags/{DAG_ID}", ok=(200, 404)).status_code == 200

    def celery_workers(self) -> list[str]:
        """The Celery workers that answer a ping through the broker (``celery inspect ping``)."""
        app = "airflow.providers.celery.executors.celery_executor.app"
        done = subprocess.run(
            [str(BIN / "celery"), "--app", app, "inspect", "ping", "--timeout", "3", "--json"],
            env=self.env(), cwd=self.home, capture_output=True, text=True, check=False,
        )  # fmt: skip
        try:
            answers = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}
        except (ValueError, IndexError):
            return []
        return sorted(name for name, answer in answers.items() if answer.get("ok") == "pong")

    def stop(self) -> None:
        """Stop every service (SIGTERM to its process group, SIGKILL after a grace period), then the database."""
        pids = {name: process.pid for name, process in self.processes.items()}
        if not pids and self.state_file.exists():
            pids = json.loads(self.state_file.read_text()).get("pids", {})
        for name in reversed(list(pids)):
            _stop_group(pids[name], self.processes.get(name))
        self.processes.clear()
        with contextlib.suppress(Exception):
            embedded_db.stop(self.pgdata)
        state = json.loads(self.state_file.read_text()) if self.state_file.exists() else {}
        if getattr(self, "business_db_started", False) or state.get("business_db_started"):
            with contextlib.suppress(Exception):
                embedded_db.stop(state.get("business_pgdata") or os.environ.get("SELLOUT_PGDATA") or None)
        self.state_file.unlink(missing_ok=True)
        (self.home / "env.sh").unlink(missing_ok=True)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _write_state(self) -> None:
        state = {
            "executor": self.executor,
            "api_url": self.api_url,
            "pids": {name: process.pid for name, process in self.processes.items()},
            "pgdata": str(self.pgdata),
            "business_db_started": self.business_db_started,
            "business_pgdata": os.environ.get("SELLOUT_PGDATA"),
        }
        self.state_file.write_text(json.dumps(state, indent=2), encoding="utf-8")
        script = self.home / "env.sh"
        script.touch(mode=0o600)
        exports = {k: v for k, v in self.env().items() if k.startswith("AIRFLOW") and k not in os.environ}
        script.write_text(
            "# source this file to point the airflow CLI at the local stack (it holds the stack's secrets)\n"
            + "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(exports.items())),
            encoding="utf-8",
        )

    # -- the REST API --------------------------------------------------------------------------------------

    def token(self) -> str:
        if self._token is None:
            password = json.loads(self.passwords_file.read_text())[ADMIN]
            answer = requests.post(
                f"{self.api_url}/auth/token", json={"username": ADMIN, "password": password}, timeout=30
            )
            answer.raise_for_status()
            self._token = answer.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, ok: tuple[int, ...] = (200,), **kwargs: Any) -> requests.Response:
        answer = requests.request(
            method, f"{self.api_url}{path}", headers={"Authorization": f"Bearer {self.token()}"}, timeout=60,
            **kwargs,
        )  # fmt: skip
        if answer.status_code not in ok:
            raise StackError(f"{method} {path}: {answer.status_code} {answer.text[:2000]}")
        return answer

    def trigger(self, week: str, conf: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Trigger the DAG for ISO ``week`` (the run that follows the week's deliveries), then unpause it.

        Triggered before the unpause, the latest week's run (see :func:`latest_week`) takes the logical date of
        the scheduled run that unpausing would create, so the scheduler runs this one and adds none.
        """
        start, end = week_interval(week)
        body = {
            "logical_date": end.isoformat(),
            "data_interval_start": start.isoformat(),
            "data_interval_end": end.isoformat(),
            "conf": dict(conf or {}),
            "note": f"week {week}, triggered by airflow/local_stack.py",
        }
        answer = self.api("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", ok=(200, 409), json=body)
        if answer.status_code == 409:
            raise StackError(
                f"week {week} has a run already (its logical date {end.isoformat()} is taken): clear that run in "
                "the UI to run it again, or trigger another week (make airflow-run WEEK=...)"
            )
        run = answer.json()
        self.api("PATCH", f"/api/v2/dags/{DAG_ID}", json={"is_paused": False})
        return run

    def wait_for_run(self, run_id: str, timeout_s: float) -> dict[str, Any]:
        path = f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}"

        def finished() -> dict[str, Any] | None:
            run = self.api("GET", path).json()
            return run if run["state"] in FINISHED else None

        return wait_until(finished, f"run {run_id} to finish", timeout_s, self._check_alive)

    def task_instances(self, run_id: str) -> list[dict[str, Any]]:
        path = f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances"
        return self.api("GET", path, params={"limit": 100}).json()["task_instances"]


def week_interval(week: str) -> tuple[datetime, datetime]:
    """The data interval of ISO ``week`` for the DAG's schedule (conf/base/airflow.yml): from the Monday of the
    week at the scheduled time to the next Monday's, when the week's files are in and the run starts."""
    settings = yaml.safe_load((PROJECT_ROOT / "conf" / "base" / "airflow.yml").read_text())["default"]
    minute, hour, _, _, weekday = settings["schedule"].split()
    if weekday != "1" or not (minute.isdigit() and hour.isdigit()):
        raise ValueError(f"week_interval knows weekly Monday schedules, not {settings['schedule']!r}")
    zone = ZoneInfo(settings["timezone"])
    year, number = week.split("-W")
    monday = date.fromisocalendar(int(year), int(number), 1)
    start = datetime(monday.year, monday.month, monday.day, int(hour), int(minute), tzinfo=zone)
    end_day = monday + timedelta(days=7)
    end = datetime(end_day.year, end_day.month, end_day.day, int(hour), int(minute), tzinfo=zone)
    return start, end


def latest_week(now: datetime | None = None) -> str:
    """The last ISO week whose run is due: its interval ends at the latest scheduled time before ``now``.

    That run is the one the scheduler creates by itself when the DAG is unpaused (``catchup: false`` runs the
    latest interval); triggering it first, with the same logical date, leaves the scheduler nothing to add.
    """
    now = now or datetime.now().astimezone()
    day = now.date() - timedelta(days=7)
    for _ in range(3):
        week = "{}-W{:02d}".format(*day.isocalendar()[:2])
        if week_interval(week)[1] <= now:
            return week
        day -= timedelta(days=7)
    raise AssertionError("unreachable: a weekly schedule has a past run within three weeks")


def _alive(pids: Mapping[str, int]) -> bool:
    return any(_pid_alive(pid) for pid in pids.values())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_group(pid: int, process: subprocess.Popen | None) -> None:
    """SIGTERM to the process group ``pid`` leads, SIGKILL to what is left after the grace period."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline:
            if process is not None:
                process.poll()  # reaps our own child
            if not _group_alive(pid):
                return
            time.sleep(0.1)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie leader still answers: count it as gone once it has exited.
    try:
        with open(f"/proc/{pgid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        state = "?"
    return state != "Z" or _other_members(pgid)


def _other_members(pgid: int) -> bool:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != pgid:
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, IndexError, PermissionError):
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def _tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


@contextlib.contextmanager
def running(**kwargs: Any) -> Iterator[LocalStack]:
    stack = LocalStack(**kwargs)
    try:
        yield stack.start()
    finally:
        stack.stop()


# -- the command line ---------------------------------------------------------------------------------------


def _current_stack(home: Path) -> tuple[LocalStack, dict[str, Any]]:
    state_file = Path(home).resolve() / "stack.json"
    if not state_file.exists():
        raise SystemExit(f"no stack runs from {home} (`make airflow-up` starts one)")
    state = json.loads(state_file.read_text())
    stack = LocalStack(home=home, executor=state["executor"])
    stack.api_url = state["api_url"]
    return stack, state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="local_stack.py", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--home", type=Path, default=Path(os.environ.get("SELLOUT_AIRFLOW_HOME", DEFAULT_HOME))
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start the stack and return once every service is healthy")
    up.add_argument("--executor", choices=["local", "celery"], default="local")
    up.add_argument("--workers", type=int, default=2, help="Celery workers (with --executor celery)")
    commands.add_parser("down", help="stop every service of the stack and its metadata database")
    commands.add_parser("status", help="the services, their health and the UI's address")
    trigger = commands.add_parser("trigger", help="trigger the DAG for a week, wait, print the task states")
    trigger.add_argument("--week", default=None, help="ISO week, e.g. 2026-W09 (default: the latest due)")
    trigger.add_argument("--conf", default="{}", help='trigger params as JSON, e.g. \'{"mode": "full"}\'')
    trigger.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args(argv)

    if args.command == "up":
        stack = LocalStack(home=args.home, executor=args.executor, workers=args.workers)
        stack.start()
        for service in stack.processes:
            print(f"{service:>14}: pid {stack.processes[service].pid}, log {stack.logs / (service + '.log')}")
        print(f"Airflow ({args.executor} executor) up in {stack.started_in_s} s: {stack.api_url}")
        print(f"user {ADMIN}, password in {stack.passwords_file}; `make airflow-down` stops it")
        return 0
    if args.command == "down":
        state_file = Path(args.home).resolve() / "stack.json"
        if not state_file.exists():
            print("no stack running")
            return 0
        stack, _ = _current_stack(args.home)
        stack.stop()
        print("stopped")
        return 0
    stack, state = _current_stack(args.home)
    if args.command == "status":
        for name, pid in state["pids"].items():
            print(f"{name:>14}: pid {pid} {'running' if _pid_alive(pid) else 'NOT RUNNING'}")
        try:
            print(
                json.dumps(requests.get(f"{stack.api_url}/api/v2/monitor/health", timeout=5).json(), indent=1)
            )
        except requests.RequestException as exc:
            print(f"api-server not answering: {exc}")
        print(f"UI: {stack.api_url}")
        return 0
    week = args.week or latest_week()
    started = time.monotonic()
    run = stack.trigger(week, json.loads(args.conf))
    run = stack.wait_for_run(run["dag_run_id"], args.timeout)
    for ti in sorted(stack.task_instances(run["dag_run_id"]), key=lambda t: t["start_date"] or ""):
        print(f"{ti['task_id']:>36}: {ti['state']}")
    print(f"run {run['dag_run_id']}: {run['state']} in {time.monotonic() - started:.0f} s")
    return 0 if run["state"] == "success" else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except StackError as exc:  # one message, not a traceback; the services' logs say more
        print(f"local_stack: {exc}", file=sys.stderr)
        sys.exit(1)
