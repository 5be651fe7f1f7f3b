"""JT/T 808 benchmark: terminals against ``partymap serve`` on PostGIS, beside NMEA devices.

    python bench/jt808.py                                      # 1,000 terminals, 2.5 Hz, 20 s
    python bench/jt808.py --terminals 10000 --seconds 60       # the target's scale

Runs :mod:`bench.ingest`'s ``basic`` phase (NMEA GGA + RMC over TCP) and then its ``jt808``
phase (the same number of JT/T 808 terminals, one 0x0200 report per epoch, the same sites and
dwells) against one server, so that the two protocols' figures come from the same run: reports
offered and stored per second, p50/p99 from sending a report to its acknowledgement (sent only
once it is committed) and to its check-in, and the server's CPU microseconds per stored fix
in each phase. Target on this 2-core machine: ≥ 25,000 reports/s with 10,000 terminals, p99
acknowledgement < 500 ms.
"""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--terminals", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=2.5, help="reports per second per terminal")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--only-jt808", action="store_true", help="skip the NMEA phase")
    args = parser.parse_args()
    phases = "jt808" if args.only_jt808 else "basic,jt808"
    sys.argv = [
        str(BENCH / "ingest.py"),
        *("--devices", str(args.terminals), "--rate", str(args.rate)),
        *("--seconds", str(args.seconds), "--phases", phases),
    ]
    runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
