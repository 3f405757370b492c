"""Memory per idle keep-alive connection: RSS of a demo server before and after N idle connections.

    python3 bench/idle_memory.py
"""
import socket, subprocess, sys, time, os, resource
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
port = 8897
p = subprocess.Popen([sys.executable, "-m", "hatchway", "serve", "--bind", f"127.0.0.1:{port}", *sys.argv[1:]], cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
def rss():
    for line in open(f"/proc/{p.pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close(); break
    except OSError:
        time.sleep(0.05)
conns = []
c = socket.create_connection(("127.0.0.1", port)); c.sendall(b"GET /json HTTP/1.1\r\nHost: a\r\n\r\n"); c.recv(65536); conns.append(c)
base = rss()
N = 5000
for i in range(N):
    c = socket.create_connection(("127.0.0.1", port)); c.sendall(b"GET /json HTTP/1.1\r\nHost: a\r\n\r\n"); c.recv(65536); conns.append(c)
after = rss()
print(f"RSS before {base} KiB, after {N} idle keep-alive connections {after} KiB: {(after-base)/N:.2f} KiB per connection")
for c in conns: c.close()
p.terminate(); p.wait(10)
