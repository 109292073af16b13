"""A local SMTP server for tests (stdlib only): records every message, supports AUTH PLAIN/LOGIN, no TLS.

    with SmtpSink(username="alerts", password="pw") as smtp:
        ...  # send to smtp.host, smtp.port
        [message] = smtp.messages   # email.message.EmailMessage, with .envelope_from / .envelope_to

``fail_connections=N`` closes the first N connections at once (a mail server that is down, then back).
"""

from __future__ import annotations

import base64
import socketserver
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage


@dataclass
class Received:
    envelope_from: str
    envelope_to: list[str]
    message: EmailMessage
    raw: bytes
    authenticated_as: str | None = None

    @property
    def body(self) -> str:
        part = self.message.get_body(preferencelist=("plain", "html"))
        return part.get_content() if part is not None else ""


@dataclass
class SmtpSink:
    username: str | None = None
    password: str | None = None
    fail_connections: int = 0
    received: list[Received] = field(default_factory=list)
    auth_failures: int = 0
    connections: int = 0

    def __post_init__(self) -> None:
        self._server: socketserver.ThreadingTCPServer | None = None
        self._lock = threading.Lock()

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        assert self._server is not None, "sink not started"
        return self._server.server_address[1]

    @property
    def messages(self) -> list[Received]:
        return list(self.received)

    def __enter__(self) -> SmtpSink:
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write((line + "\r\n").encode())
                self.wfile.flush()

            def readline(self) -> str:
                return self.rfile.readline(65536).decode("utf-8", "replace").rstrip("\r\n")

            def handle(self) -> None:
                with sink._lock:
                    sink.connections += 1
                    refuse = sink.connections <= sink.fail_connections
                if refuse:
                    return  # closes without a greeting: the client sees a dropped connection
                self.reply("220 sellout-test-smtp ESMTP")
                sender, recipients, user = "", [], None
                while True:
                    line = self.readline()
                    if not line and self.rfile.closed:
                        return
                    verb = line.split(" ", 1)[0].upper()
                    arg = line[len(verb) :].strip()
                    if verb in {"EHLO", "HELO"}:
                        if verb == "EHLO":
                            self.wfile.write(
                                b"250-sellout-test-smtp\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n"
                            )
                            self.wfile.flush()
                        else:
                            self.reply("250 sellout-test-smtp")
                    elif verb == "AUTH":
                        user = self._auth(arg)
                        if user is None:
                            sink.auth_failures += 1
                            self.reply("535 5.7.8 Authentication credentials invalid")
                        else:
                            self.reply("235 2.7.0 Authentication successful")
                    elif verb == "MAIL":
                        if sink.username and user is None:
                            self.reply("530 5.7.0 Authentication required")
                            continue
                        sender, recipients = _address(arg), []
                        self.reply("250 OK")
                    elif verb == "RCPT":
                        recipients.append(_address(arg))
                        self.reply("250 OK")
                    elif verb == "DATA":
                        self.reply("354 End data with <CR><LF>.<CR><LF>")
                        lines = []
                        while True:
                            raw = self.rfile.readline(1 << 20)
                            if raw in (b".\r\n", b".\n", b""):
                                break
                            lines.append(raw[1:] if raw.startswith(b"..") else raw)
                        data = b"".join(lines)
                        message = message_from_bytes(data, policy=policy.default)
                        sink.received.append(Received(sender, recipients, message, data, user))
                        self.reply("250 OK: queued")
                    elif verb == "RSET":
                        sender, recipients = "", []
                        self.reply("250 OK")
                    elif verb == "NOOP":
                        self.reply("250 OK")
                    elif verb == "QUIT":
                        self.reply("221 Bye")
                        return
                    elif not line:
                        return
                    else:
                        self.reply("502 5.5.2 Command not implemented")

            def _auth(self, arg: str) -> str | None:
                mechanism, _, initial = arg.partition(" ")
                mechanism = mechanism.upper()
                if mechanism == "PLAIN":
                    if not initial:
                        self.reply("334 ")
                        initial = self.readline()
                    try:
                        _, user, password = base64.b64decode(initial).decode().split("\0")
                    except ValueError:
                        return None
                elif mechanism == "LOGIN":
                    if initial:
                        user = base64.b64decode(initial).decode()
                    else:
                        self.reply("334 VXNlcm5hbWU6")
                        user = base64.b64decode(self.readline()).decode()
                    self.reply("334 UGFzc3dvcmQ6")
                    password = base64.b64decode(self.readline()).decode()
                else:
                    return None
                if user == sink.username and password == sink.password:
                    return user
                return None

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _address(arg: str) -> str:
    start, end = arg.find("<"), arg.find(">")
    return arg[start + 1 : end] if start >= 0 and end > start else arg.split(":", 1)[-1].strip()
