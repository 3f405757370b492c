"""Instructions per request on the inline hot path, counted by valgrind: a figure that load on the
machine does not move, for comparing two versions of the hot path (user space only; the kernel's
share of a request is not in it).

Runs bench/hotpath.py under callgrind for two request counts and reports the difference per request,
so start-up and imports cancel out.

    python bench/instructions.py                                  # the tree, pure, default mode
    python bench/instructions.py --threads 0                      # pure inline
    python bench/instructions.py --python .venv-mypyc/bin/python --installed   # the compiled build
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HOTPATH = Path(__file__).resolve().parent / "hotpath.py"


def total_instructions(python: str, n: int, threads: int, installed: bool) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        env = dict(os.environ, HOTPATH_THREADS=str(threads))
        if installed:
            env["HOTPATH_INSTALLED"] = "1"
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", os.path.abspath(python), "-P",
                        str(HOTPATH),
                        "--n", str(n), "--rounds", "1"], cwd=tmp, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        text = subprocess.run(["callgrind_annotate", out], capture_output=True, text=True, check=True).stdout
    m = re.search(r"^\s*([\d,]+)\s.*PROGRAM TOTALS", text, re.M)
    if m is None:
        raise SystemExit("could not read callgrind's totals")
    return int(m.group(1).replace(",", ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--threads", type=int, default=8, help="0: pure inline; 8: the default hand-off mode")
    ap.add_argument("--installed", action="store_true", help="the hatchway installed in --python, not the tree")
    ap.add_argument("--low", type=int, default=2000)
    ap.add_argument("--high", type=int, default=6000)
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    low = total_instructions(args.python, args.low, args.threads, args.installed)
    high = total_instructions(args.python, args.high, args.threads, args.installed)
    print(f"instructions per request: {(high - low) / (args.high - args.low):,.0f} "
          f"(threads={args.threads}, {'installed' if args.installed else 'tree'}, {args.python})")


if __name__ == "__main__":
    main()
