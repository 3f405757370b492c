"""A line-based key-value service on hatchway's stream servers.

    python examples/kv_server.py --bind 127.0.0.1:7070 --concurrency threads --threads 8

Protocol: one command per line, UTF-8, answered by one line.

    SET key value   ->  OK                (value is the rest of the line, may contain spaces)
    GET key         ->  VALUE value  |  NOT_FOUND
    DEL key         ->  DELETED  |  NOT_FOUND
    KEYS            ->  KEYS k1 k2 ...    (sorted; "KEYS" alone when empty)
    QUIT            ->  BYE, then the server closes the connection

Anything else gets `ERR <reason>`.  A line longer than MAX_LINE bytes gets `ERR line too long` and
the connection is closed (its remainder cannot be told apart from the next command).  An idle client
is disconnected after the handler's read_timeout.

With --concurrency processes each child has its own store (no shared memory): that mode suits
stateless services; it is offered here to show the switch.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from hatchway.server import StreamRequestHandler, TCPServer, UnixStreamServer, parse_bind

MAX_LINE = 64 * 1024
MAX_KEY = 250


class Store:
    """A dict behind a lock: handlers run on several threads at once."""

    def __init__(self):
        self._data: dict[str, str] = {}
        self._lock = threading.Lock()

    def set(self, key, value) -> None:
        with self._lock:
            self._data[key] = value

    def get(self, key):
        with self._lock:
            return self._data.get(key)

    def delete(self, key) -> bool:
        with self._lock:
            return self._data.pop(key, None) is not None

    def keys(self) -> list[str]:
        with self._lock:
            return sorted(self._data)


class KVHandler(StreamRequestHandler):
    read_timeout = 300.0

    def handle(self) -> None:
        store = self.server.store
        while True:
            raw = self.rfile.readline(MAX_LINE + 1)
            if not raw:
                return  # the client closed
            if len(raw) > MAX_LINE or not raw.endswith(b"\n"):
                if len(raw) > MAX_LINE:
                    self.reply("ERR line too long")
                return  # too long, or cut off by EOF
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                self.reply("ERR not UTF-8")
                continue
            command, _, rest = line.partition(" ")
            command = command.upper()
            if command == "QUIT":
                self.reply("BYE")
                return
            self.reply(self.execute(store, command, rest))

    def execute(self, store: Store, command: str, rest: str) -> str:
        if command == "SET":
            key, sep, value = rest.partition(" ")
            if not key or not sep:
                return "ERR usage: SET key value"
            if len(key) > MAX_KEY:
                return "ERR key too long"
            store.set(key, value)
            return "OK"
        if command in ("GET", "DEL"):
            key = rest
            if not key or " " in key:
                return f"ERR usage: {command} key"
            if command == "GET":
                value = store.get(key)
                return "NOT_FOUND" if value is None else f"VALUE {value}"
            return "DELETED" if store.delete(key) else "NOT_FOUND"
        if command == "KEYS":
            keys = store.keys()
            return "KEYS " + " ".join(keys) if keys else "KEYS"
        return f"ERR unknown command {command[:32]!r}"

    def reply(self, text: str) -> None:
        self.wfile.write(text.encode("utf-8") + b"\n")


def make_server(bind: str = "127.0.0.1:7070", concurrency: str = "threads", threads: int = 8,
                processes: int | None = None):
    kind, value = parse_bind(bind)
    options = {"concurrency": concurrency}
    if concurrency != "sync":
        options["threads"] = threads if concurrency == "threads" else 0
    if concurrency == "processes":
        options["processes"] = processes
    if kind == "unix":
        server = UnixStreamServer(value, KVHandler, **options)
    elif kind == "tcp":
        server = TCPServer(value, KVHandler, **options)
    else:
        raise SystemExit(f"kv_server: unsupported bind address {bind!r}")
    server.store = Store()
    return server


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", default="127.0.0.1:7070", help="HOST:PORT, [::]:PORT or unix:PATH")
    parser.add_argument("--concurrency", choices=["sync", "threads", "processes"], default="threads")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--processes", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    server = make_server(args.bind, args.concurrency, args.threads, args.processes)
    address = server.server_address
    where = f"unix:{address}" if isinstance(address, str) else f"{address[0]}:{address[1]}"
    print(f"kv_server listening on {where} ({args.concurrency})", flush=True)

    def stop(signum, frame):
        # shutdown() waits for serve_forever, which runs in this very thread: ask from another.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with server:
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
