"""Wall time and peak RSS of the offline experiment on the bundled MovieLens data.

Runs ``raie experiment`` as a child process (so its memory is measured alone)
and prints the figures that BENCHMARKS.md records.

    python bench/experiment_wall_time.py [--methods base,lora,...,raie-wo-all] [--seeds 0,1,2,3,4]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=REPO / "data/ml-latest-small")
    parser.add_argument("--methods", default="base,lora,replay,lwf,raie,raie-wo-kr,raie-wo-ke,raie-wo-all")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as store:
        command = [
            sys.executable, "-m", "raie.cli.main", "experiment", "--dataset", "movielens",
            "--data-dir", str(args.data_dir), "--backbone", "sasrec",
            "--methods", args.methods, "--seeds", args.seeds, "--store", store,
        ]  # fmt: skip
        started = time.perf_counter()
        # Progress bars go to stderr; keep only the table.
        done = subprocess.run(command, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(done.stdout)
    print(f"experiment wall time: {seconds:.1f} s ({args.methods} x seeds {args.seeds}, {os.cpu_count()} cores)")
    print(f"experiment peak RSS: {peak_mib:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
