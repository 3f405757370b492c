"""Memory per idle keep-alive connection: RSS of a demo server before and after N idle connections.

    python3 bench/idle_memory.py
"""
import os
import socket
import subprocess
import sys
import time

port = 8897
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
p = subprocess.Popen([sys.executable, "-m", "hatchway", "serve", "--bind", f"127.0.0.1:{port}", *sys.argv[1:]],
                     cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def rss():
    with open(f"/proc/{p.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])


def idle_connection():
    """One keep-alive connection that has had one response and now sits idle."""
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall(b"GET /json HTTP/1.1\r\nHost: a\r\n\r\n")
    c.recv(65536)
    return c


deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        break
    except OSError:
        time.sleep(0.05)
conns = [idle_connection()]
base = rss()
N = 5000
conns += [idle_connection() for _ in range(N)]
after = rss()
print(f"RSS before {base} KiB, after {N} idle keep-alive connections {after} KiB: "
      f"{(after - base) / N:.2f} KiB per connection")
for c in conns:
    c.close()
p.terminate()
p.wait(10)
