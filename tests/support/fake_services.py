"""Fakes of Redis and PostgreSQL that leak the password in their errors, as some proxies and poolers do.

Each listens on 127.0.0.1 (a free port) in its own thread and refuses every client with an error
whose text carries the credential it was sent, so a test that checks "the password is not shown"
fails when testgen's scrubbing is missing. `errors` records what was sent, so a test can check
that the leak really happened upstream of the code under test.
"""

from __future__ import annotations

import contextlib
import socketserver
import struct
import threading
from typing import Any


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class _LeakyServer:
    """Start with `with LeakyX() as fake:`; `url(password)` is the address to give the client."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                with contextlib.suppress(OSError, ValueError, struct.error):  # the client went away
                    fake._serve(self.rfile, self.wfile)

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), name=type(self).__name__, daemon=True
        )

    def _record(self, error: str) -> None:
        with self._lock:
            self.errors.append(error)

    def _serve(self, rfile: Any, wfile: Any) -> None:
        raise NotImplementedError

    def __enter__(self) -> _LeakyServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class LeakyRedis(_LeakyServer):
    """Answers every RESP command with an error that quotes the whole command (AUTH's password too)."""

    def url(self, password: str) -> str:
        return f"redis://default:{password}@127.0.0.1:{self.port}/0"

    def _serve(self, rfile: Any, wfile: Any) -> None:
        while True:
            line = rfile.readline()
            if not line.startswith(b"*"):
                return
            args = []
            for _ in range(int(line[1:])):
                size = int(rfile.readline()[1:])
                args.append(rfile.read(size + 2)[:-2].decode(errors="replace"))
            error = f"ERR proxy cannot forward '{' '.join(args)}': backend down"
            self._record(error)
            wfile.write(f"-{error}\r\n".encode())
            wfile.flush()


class LeakyPostgres(_LeakyServer):
    """Asks for a cleartext password, then refuses the login quoting the password it received."""

    def url(self, password: str) -> str:
        return f"postgresql+asyncpg://qa:{password}@127.0.0.1:{self.port}/testgen"

    def _serve(self, rfile: Any, wfile: Any) -> None:
        length, code = struct.unpack("!ii", rfile.read(8))
        if code == 80877103:  # SSLRequest: no TLS here, then the real startup message follows
            wfile.write(b"N")
            wfile.flush()
            length, code = struct.unpack("!ii", rfile.read(8))
        rfile.read(length - 8)  # the startup parameters
        wfile.write(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
        wfile.flush()
        _kind, size = struct.unpack("!ci", rfile.read(5))
        password = rfile.read(size - 4).rstrip(b"\0").decode(errors="replace")
        error = f'password "{password}" rejected for user "qa" by the pooler'
        self._record(error)
        fields = b"SFATAL\0VFATAL\0C28P01\0M" + error.encode() + b"\0\0"
        wfile.write(b"E" + struct.pack("!i", len(fields) + 4) + fields)
        wfile.flush()
