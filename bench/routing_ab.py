"""Routing cost before and after the split of web/routing.py: the module at a git revision against the package.

    python3 bench/routing_ab.py [REV]     # REV: a commit that still has hatchway/web/routing.py (default e61db39)

Both routers get the same table and are timed in the same process, interleaved round by round, in CPU time
(time.process_time), so the machine's load hits both alike; each figure is the median of 15 rounds.
"""
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import hatchway.web  # noqa: E402,F401  (the old module imports its siblings relatively)
from hatchway.web import routing as new  # noqa: E402

rev = sys.argv[1] if len(sys.argv) > 1 else "e61db39"
text = subprocess.run(["git", "-C", ROOT, "show", f"{rev}:hatchway/web/routing.py"], check=True,
                      capture_output=True, text=True).stdout
with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
    f.write(text)
spec = importlib.util.spec_from_file_location("hatchway.web._routing_before", f.name)
old = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = old
spec.loader.exec_module(old)
os.unlink(f.name)



def make(mod, n):
    r = mod.Router()
    r.add(mod.Rule("/about/team", "static"))
    for i in range(n):
        r.add(mod.Rule(f"/d{i}/<int:id>", f"d{i}"))
    r.add(mod.Rule("/f/<path:p>/edit", "f"))
    r.add(mod.Rule("/u/<name>/v<int:k>.json", "u"))
    r.freeze()
    return r


paths = ["/about/team", "/d0/42", "/d99/42", "/f/a/b/edit", "/u/bob/v2.json"]
routers = {"old": make(old, 100), "new": make(new, 100)}
N, ROUNDS = 20000, 15
res = {(k, p): [] for k in routers for p in paths}
for _ in range(ROUNDS):
    for p in paths:
        for k, r in routers.items():
            look = r.lookup
            t0 = time.process_time()
            for _ in range(N):
                look("GET", p)
            res[(k, p)].append((time.process_time() - t0) / N * 1e6)
print(f"{'path':16} {'old us':>7} {'new us':>7} {'new/old':>8}")
for p in paths:
    o, n_ = statistics.median(res[("old", p)]), statistics.median(res[("new", p)])
    print(f"{p:16} {o:7.3f} {n_:7.3f} {n_ / o:8.3f}")
