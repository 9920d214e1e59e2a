"""Yelp loader throughput and memory on a large file in the official layout.

Writes a synthetic Yelp data set (or uses ``--data-dir``), then loads it in a
child process so that its peak RSS is the loader's alone. The real review file
is about 5 GB; the loader must read it through DuckDB, never as Python objects,
so peak memory should stay near the size of the four Arrow columns it keeps.

    python bench/yelp_load.py [--users 20000] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from raie.data.synthetic import SyntheticConfig, write_synthetic_yelp
from raie.data.yelp import REVIEW_FILE

CHILD = """
import sys, time
from pathlib import Path
from raie.data.yelp import load_yelp
started = time.perf_counter()
dataset = load_yelp(Path(sys.argv[1]))
print(dataset.interactions.num_rows, dataset.interactions.nbytes, time.perf_counter() - started)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description="Yelp loader throughput and peak RSS")
    parser.add_argument("--users", type=int, default=20000, help="synthetic users (about 85 reviews each)")
    parser.add_argument("--data-dir", type=Path, default=None, help="an existing Yelp folder instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.data_dir or Path(scratch)
        if args.data_dir is None:
            write_synthetic_yelp(folder, SyntheticConfig(n_users=args.users, seed=0))
        size_mib = (folder / REVIEW_FILE).stat().st_size / 2**20
        out = subprocess.run([sys.executable, "-c", CHILD, str(folder)], check=True, capture_output=True, text=True)
    rows, arrow_bytes, seconds = out.stdout.split()
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"yelp load: {int(rows):,} reviews from a {size_mib:,.0f} MiB review file in {float(seconds):.2f} s")
    print(f"yelp load throughput: {int(rows) / float(seconds):,.0f} reviews/s")
    print(f"yelp load peak RSS: {peak_mib:,.0f} MiB (Arrow result {int(arrow_bytes) / 2**20:,.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
