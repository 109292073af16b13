"""A small local fake of the Tableau REST API, speaking the real XML (namespace ``http://tableau.com/api``).

Enough for tableauserverclient's sign-in (personal access token or JWT), server info, data source and
workbook lookup, extract refresh, job polling and the background job list. Every request is recorded
in ``server.requests``.

Scenarios are scripted per item before the test calls the client::

    with FakeTableauServer(datasources=[{"name": "Forecasts"}]) as tableau:
        tableau.script_refresh("Forecasts", finish_code=1, polls=2)  # 2 polls in progress, then failed
        tableau.already_queued("Forecasts", polls=1)  # refresh answers 409093; a job is queued
        tableau.fail_next("POST", r"/refresh$", [503, 429])  # transient errors before the real answer
        tableau.fail_next("GET", r"/jobs/", ["drop"])  # the connection drops without an answer
        tableau.fail_next("POST", r"/refresh$", ["accept-drop"])  # job created, then the connection drops

The response bodies follow the shapes of the real bodies kept in ``shared/fixtures/tableau-rest``
(a test compares their element/attribute structure).
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

NS = "http://tableau.com/api"
_HEAD = (
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    f'<tsResponse xmlns="{NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xsi:schemaLocation="http://tableau.com/api http://tableau.com/api/ts-api-3.19.xsd">\n'
)
_TAIL = "</tsResponse>\n"
FINISH_SUCCESS, FINISH_FAILED, FINISH_CANCELLED, FINISH_COMPLETED = 0, 1, 2, 3
_BACKGROUND_STATUS = {0: "Success", 1: "Failed", 2: "Cancelled", 3: "Success"}
_SUBTITLE = {"datasource": "Data Source", "workbook": "Workbook"}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _a(**attrs: Any) -> str:
    """XML attributes, in the given order, skipping None."""
    return "".join(f" {k}={quoteattr(str(v))}" for k, v in attrs.items() if v is not None)


def error_body(code: str, summary: str, detail: str) -> str:
    return (
        f'{_HEAD}    <error code="{code}">\n        <summary>{summary}</summary>\n'
        f"        <detail>{detail}</detail>\n    </error>\n{_TAIL}"
    )


@dataclass
class Item:
    type: str  # "datasource" | "workbook"
    id: str
    name: str
    project: str = "default"
    project_id: str = "ee8c6e70-43b6-11e6-af4f-f7b0d8e20760"


@dataclass
class Scenario:
    finish_code: int = FINISH_SUCCESS
    polls: int = 0  # GET jobs/{id} answers "in progress" this many times before the finish code
    already_queued: bool = False  # POST refresh answers 409093; a queued job for the item is in the jobs list
    notes: str | None = None


@dataclass
class Job:
    id: str
    item: Item
    scenario: Scenario
    created_at: str = field(default_factory=_now)
    started_at: str | None = None
    completed_at: str | None = None
    polls_left: int = 0

    @property
    def done(self) -> bool:
        return self.completed_at is not None


@dataclass
class Fault:
    method: str
    pattern: str
    actions: list[int | str]  # HTTP status, "drop" (no answer) or "accept-drop" (handle, then no answer)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: str


class FakeTableauServer:
    """Fake Tableau Server on 127.0.0.1 (random port). Use as a context manager or call start()/stop()."""

    def __init__(
        self,
        *,
        token_name: str = "sellout-ci",
        token_secret: str = "fake-pat-secret-0123456789",
        jwt: str | None = None,
        site: str = "",
        api_version: str = "3.19",
        datasources: list[dict[str, Any]] = (),
        workbooks: list[dict[str, Any]] = (),
    ) -> None:
        self.token_name, self.token_secret, self.jwt = token_name, token_secret, jwt
        self.site_content_url = site
        self.site_id = "6b7179ba-b82b-4f0f-91ed-812074ac5da6"
        self.user_id = "1a96d216-e9b8-497b-a82a-0b899a965e01"
        self.api_version = api_version
        self.items: dict[str, Item] = {}
        for kind, specs in (("datasource", datasources), ("workbook", workbooks)):
            for spec in specs:
                self.add_item(kind, **spec)
        self.scenarios: dict[str, Scenario] = {}
        self.jobs: dict[str, Job] = {}  # insertion order = creation order
        self.tokens: set[str] = set()
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- setup
    def add_item(self, kind: str, name: str, id: str | None = None, project: str = "default") -> Item:
        item = Item(kind, id or str(uuid.uuid4()), name, project)
        self.items[item.id] = item
        return item

    def item(self, name_or_id: str) -> Item:
        if name_or_id in self.items:
            return self.items[name_or_id]
        return next(i for i in self.items.values() if i.name == name_or_id)

    def script_refresh(
        self, name_or_id: str, *, finish_code: int = FINISH_SUCCESS, polls: int = 0, notes: str | None = None
    ) -> None:
        """What the next refresh job of this item does: `polls` polls in progress, then `finish_code`."""
        self.scenarios[self.item(name_or_id).id] = Scenario(finish_code, polls, notes=notes)

    def already_queued(self, name_or_id: str, *, finish_code: int = FINISH_SUCCESS, polls: int = 1) -> Job:
        """A refresh of this item is queued already: POST refresh answers 409093.

        The queued job (returned) runs the scenario when polled."""
        item = self.item(name_or_id)
        self.scenarios[item.id] = Scenario(finish_code, polls, already_queued=True)
        return self.queue_job(name_or_id)

    def fail_next(self, method: str, pattern: str, actions: list[int | str]) -> None:
        """The next requests matching ``method`` and the path regex ``pattern`` get ``actions`` in turn:
        an HTTP status (503, 429 with ``Retry-After: 0``, ...), ``"drop"`` (the connection closes without an
        answer) or ``"accept-drop"`` (the request is handled, then the connection closes without an answer)."""
        self.faults.append(Fault(method, pattern, list(actions)))

    def _fault_for(self, method: str, path: str) -> int | str | None:
        for fault in self.faults:
            if fault.actions and fault.method == method and re.search(fault.pattern, path):
                return fault.actions.pop(0)
        return None

    def queue_job(self, name_or_id: str) -> Job:
        """Put a pending refresh job of this item in the jobs list (runs the item's scenario when polled)."""
        return self._new_job(self.item(name_or_id))

    # ------------------------------------------------------------- lifecycle
    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> FakeTableauServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeTableauServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------- assertions
    def calls(self, method: str, pattern: str) -> list[Request]:
        """Recorded requests whose path matches the regex `pattern` (searched)."""
        return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]

    @property
    def signed_in(self) -> bool:
        return bool(self.tokens)

    # ------------------------------------------------------------- behaviour
    def _new_job(self, item: Item) -> Job:
        scenario = self.scenarios.get(item.id, Scenario())
        job = Job(str(uuid.uuid4()), item, scenario, polls_left=scenario.polls)
        self.jobs[job.id] = job
        return job

    def poll(self, job: Job) -> None:
        """One GET of the job: progress while polls remain, then the scripted finish code."""
        if job.done:
            return
        job.started_at = job.started_at or _now()
        if job.polls_left > 0:
            job.polls_left -= 1
        else:
            job.completed_at = _now()

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict, body: str):
        """(status, xml body) for one request."""
        m = re.fullmatch(r"/api/(\d+\.\d+)(/.*)", path)
        if not m:
            return 404, error_body(
                "404000", "Resource Not Found", f"Unknown resource '{path}' specified in URI."
            )
        route = m.group(2)
        if method == "POST" and route == "/auth/signin":
            return self._signin(body)
        if method == "GET" and route == "/serverInfo":
            return 200, self.server_info_body()
        token = headers.get("x-tableau-auth")
        if token not in self.tokens:
            return 401, error_body(
                "401002", "Unauthorized Access", "Invalid authentication credentials were provided."
            )
        if method == "POST" and route == "/auth/signout":
            self.tokens.discard(token)
            return 204, ""
        m = re.fullmatch(rf"/sites/{self.site_id}(/.*)", route)
        if not m:
            return 403, error_body(
                "403000", "Forbidden", "The site in the URI does not match the signed-in site."
            )
        route = m.group(1)
        for kind in ("datasource", "workbook"):
            if method == "GET" and route == f"/{kind}s":
                return 200, self.items_body(kind, _filters(query))
            found = re.fullmatch(rf"/{kind}s/([^/]+)(/refresh)?", route)
            if found:
                item = self.items.get(found.group(1))
                if item is None or item.type != kind:
                    code = "404011" if kind == "datasource" else "404006"
                    label = "Datasource" if kind == "datasource" else "Workbook"
                    return 404, error_body(
                        code, "Resource Not Found", f"{label} '{found.group(1)}' could not be found."
                    )
                if method == "GET" and not found.group(2):
                    return 200, self.item_body(item)
                if method == "POST" and found.group(2):
                    return self._refresh(item)
        if method == "GET" and route == "/jobs":
            return 200, self.jobs_body(_filters(query))
        found = re.fullmatch(r"/jobs/([^/]+)", route)
        if method == "GET" and found:
            job = self.jobs.get(found.group(1))
            if job is None:
                return 404, error_body(
                    "404005", "Resource Not Found", f"Job '{found.group(1)}' could not be found."
                )
            self.poll(job)
            return 200, self.job_body(job)
        return 404, error_body("404000", "Resource Not Found", f"Unknown resource '{path}' specified in URI.")

    def _signin(self, body: str):
        creds = ET.fromstring(body).find("credentials")
        site = creds.find("site") if creds is not None else None
        ok = (
            creds is not None and site is not None and (site.get("contentUrl") or "") == self.site_content_url
        )
        if ok and creds.get("jwt") is not None:
            ok = self.jwt is not None and creds.get("jwt") == self.jwt
        elif ok:
            ok = (
                creds.get("personalAccessTokenName") == self.token_name
                and creds.get("personalAccessTokenSecret") == self.token_secret
            )
        if not ok:
            return 401, error_body("401001", "Signin Error", "Error signing in to Tableau Server")
        token = uuid.uuid4().hex
        self.tokens.add(token)
        return 200, (
            f"{_HEAD}    <credentials{_a(token=token)}>\n"
            f"        <site{_a(id=self.site_id, contentUrl=self.site_content_url)} />\n"
            f"        <user{_a(id=self.user_id)} />\n    </credentials>\n{_TAIL}"
        )

    def _refresh(self, item: Item):
        scenario = self.scenarios.get(item.id, Scenario())
        if scenario.already_queued:
            return 409, error_body(
                "409093",
                "Resource Conflict",
                f"A refresh job for '{item.name}' is already queued; a new one was not created.",
            )
        return 202, self.refresh_body(self._new_job(item))

    # ---------------------------------------------------------------- bodies
    def server_info_body(self) -> str:
        return (
            f"{_HEAD}<serverInfo>\n"
            '<productVersion build="20232.23.0606.1403">2023.2.0</productVersion>\n'
            f"<restApiVersion>{self.api_version}</restApiVersion>\n</serverInfo>\n{_TAIL}"
        )

    def _item_xml(self, item: Item, indent: str) -> str:
        common = {
            "id": item.id,
            "name": item.name,
            "contentUrl": re.sub(r"\W", "", item.name),
            "createdAt": "2026-01-05T09:00:00Z",
            "updatedAt": "2026-01-05T09:00:00Z",
        }
        if item.type == "datasource":
            attrs = _a(**common, type="dataengine", encryptExtracts="false", hasExtracts="true")
        else:
            attrs = _a(**common, showTabs="true", size="1", encryptExtracts="false")
        return (
            f"{indent}<{item.type}{attrs}>\n"
            f"{indent}    <project{_a(id=item.project_id, name=item.project)} />\n"
            f"{indent}    <owner{_a(id=self.user_id)} />\n"
            f"{indent}    <tags />\n"
            f"{indent}</{item.type}>\n"
        )

    def items_body(self, kind: str, filters: dict[str, str]) -> str:
        items = [i for i in self.items.values() if i.type == kind]
        if "name" in filters:
            items = [i for i in items if i.name == filters["name"]]
        if "projectName" in filters:
            items = [i for i in items if i.project == filters["projectName"]]
        rows = "".join(self._item_xml(i, "        ") for i in items)
        return (
            f'{_HEAD}    <pagination pageNumber="1" pageSize="100" totalAvailable="{len(items)}" />\n'
            f"    <{kind}s>\n{rows}    </{kind}s>\n{_TAIL}"
        )

    def item_body(self, item: Item) -> str:
        return f"{_HEAD}{self._item_xml(item, '    ')}{_TAIL}"

    def refresh_body(self, job: Job) -> str:
        item = job.item
        attrs = _a(id=job.id, mode="Asynchronous", type="RefreshExtract", createdAt=job.created_at)
        return (
            f"{_HEAD}  <job{attrs}>\n"
            f"    <extractRefreshJob>\n      <{item.type}{_a(id=item.id, name=item.name)} />\n"
            f"    </extractRefreshJob>\n  </job>\n{_TAIL}"
        )

    def job_body(self, job: Job) -> str:
        item, done = job.item, job.done
        attrs = _a(
            id=job.id,
            mode="Asynchronous",
            type="RefreshExtract",
            progress="100" if done else "50",
            createdAt=job.created_at,
            startedAt=job.started_at,
            completedAt=job.completed_at,
            finishCode=job.scenario.finish_code if done else None,
        )
        notes = job.scenario.notes
        if notes is None and done and job.scenario.finish_code == FINISH_FAILED:
            notes = "java.lang.RuntimeException: extract refresh failed (scripted by the fake server)"
        notes_xml = f"      <notes>{escape(notes)}</notes>\n" if notes and done else ""
        return (
            f"{_HEAD}    <job{attrs}>\n      <extractRefreshJob>\n"
            f"      <{item.type}{_a(id=item.id, name=item.name)} />\n{notes_xml}"
            f"      </extractRefreshJob>\n    </job>\n{_TAIL}"
        )

    def jobs_body(self, filters: dict[str, str]) -> str:
        jobs = list(reversed(self.jobs.values()))  # newest first
        if filters.get("jobType") not in (None, "refresh_extracts"):
            jobs = []
        rows = []
        for job in jobs:
            status = (
                _BACKGROUND_STATUS[job.scenario.finish_code]
                if job.done
                else ("InProgress" if job.started_at else "Pending")
            )
            attrs = _a(
                id=job.id,
                status=status,
                createdAt=job.created_at,
                startedAt=job.started_at,
                endedAt=job.completed_at,
                priority="50",
                jobType="refresh_extracts",
                title=job.item.name,
                subtitle=_SUBTITLE[job.item.type],
            )
            rows.append(f"        <backgroundJob{attrs}/>\n")
        return (
            f'{_HEAD}    <pagination pageNumber="1" pageSize="100" totalAvailable="{len(rows)}"/>\n'
            f"    <backgroundJobs>\n{''.join(rows)}    </backgroundJobs>\n{_TAIL}"
        )


def _filters(query: dict[str, list[str]]) -> dict[str, str]:
    """``filter=name:eq:Sales,projectName:eq:X`` -> {"name": "Sales", "projectName": "X"} (eq only)."""
    out = {}
    for expression in (query.get("filter") or [""])[0].split(","):
        parts = expression.split(":", 2)
        if len(parts) == 3 and parts[1] == "eq":
            out[parts[0]] = parts[2]
    return out


def _make_handler(fake: FakeTableauServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8") if length else ""
            parts = urlsplit(self.path)
            path, query = unquote(parts.path), parse_qs(parts.query)
            headers = {k.lower(): v for k, v in self.headers.items()}
            with fake.lock:
                fake.requests.append(Request(method, path, query, headers, body))
                fault = fake._fault_for(method, path)
                if isinstance(fault, int):
                    status, text = (
                        fault,
                        error_body(
                            f"{fault}000", "Transient Error", "Scripted transient error of the fake server."
                        ),
                    )
                else:
                    try:
                        status, text = fake.handle(method, path, query, headers, body)
                    except Exception as exc:  # noqa: BLE001 - a fake bug should surface as a 500, not hang the client
                        status, text = 500, error_body("500000", "Internal Server Error", repr(exc))
            if fault in ("drop", "accept-drop"):
                self.close_connection = True
                return
            payload = text.encode("utf-8")
            self.send_response(status)
            if status == 429:
                self.send_header("Retry-After", "0")
            if payload:
                self.send_header("Content-Type", "application/xml;charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    return Handler
