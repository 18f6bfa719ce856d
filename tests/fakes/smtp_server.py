"""A local SMTP server for tests: speaks enough of RFC 5321 (EHLO, MAIL, RCPT, DATA, QUIT) for smtplib, keeps what
it receives, and can require a login (AUTH PLAIN / LOGIN) to check that the sender uses its credentials."""

from __future__ import annotations

import base64
import socketserver
import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message


@dataclass
class ReceivedMail:
    sender: str
    recipients: list[str]
    message: Message


@dataclass
class FakeSMTP:
    username: str = ""
    password: str = ""
    received: list[ReceivedMail] = field(default_factory=list)
    _server: socketserver.ThreadingTCPServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    def env(self) -> dict[str, str]:
        env = {"AKARI_SMTP_HOST": "127.0.0.1", "AKARI_SMTP_PORT": str(self.port), "AKARI_SMTP_TLS": "none",
               "AKARI_SMTP_FROM": "akari@example.net"}
        if self.username:
            env.update({"AKARI_SMTP_USERNAME": self.username, "AKARI_SMTP_PASSWORD": self.password})
        return env

    def __enter__(self) -> FakeSMTP:
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write((line + "\r\n").encode())

            def handle(self) -> None:
                self.reply("220 fake.smtp ESMTP")
                sender, recipients, authed = "", [], not fake.username
                while line := self.rfile.readline():
                    command = line.decode(errors="replace").strip()
                    verb = command.split(" ", 1)[0].upper()
                    if verb in ("EHLO", "HELO"):
                        self.reply("250-fake.smtp")
                        self.reply("250 AUTH PLAIN LOGIN")
                    elif verb == "AUTH":
                        parts = command.split(" ")
                        credentials = base64.b64decode(parts[2]).split(b"\0") if len(parts) > 2 else []
                        authed = credentials[1:] == [fake.username.encode(), fake.password.encode()]
                        self.reply("235 ok" if authed else "535 bad credentials")
                    elif verb == "MAIL":
                        if not authed:
                            self.reply("530 authentication required")
                            continue
                        sender, recipients = command.split(":", 1)[1].strip().strip("<>"), []
                        self.reply("250 ok")
                    elif verb == "RCPT":
                        recipients.append(command.split(":", 1)[1].strip().strip("<>"))
                        self.reply("250 ok")
                    elif verb == "DATA":
                        self.reply("354 go on")
                        data = b""
                        while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                            data += chunk[1:] if chunk.startswith(b"..") else chunk
                        fake.received.append(ReceivedMail(sender, recipients, message_from_bytes(data)))
                        self.reply("250 queued")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("250 ok")

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
