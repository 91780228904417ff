"""`python -m benchmarks [--quick] [--only NAME ...]`: every workload, one thread each, one table.

Times are medians; ratios are against PyTorch measured in the same run. Peers that are not
installed (torch, jax, HIPS autograd) are skipped.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time

from . import common

WORKLOADS = ("mlp", "elementwise", "tutorial_q", "resnet", "optim")


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            return next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only (a smoke run)")
    parser.add_argument("--only", nargs="*", choices=WORKLOADS, default=list(WORKLOADS),
                        help="workloads to run (default: all)")
    args = parser.parse_args(argv)
    rows = []
    start = time.perf_counter()
    if "mlp" in args.only:
        from .mlp import run

        rows += run((1, 64) if args.quick else (1, 64, 512))
        from .mlp import torch_shaped_rows

        rows += torch_shaped_rows((1, 64))
    if "elementwise" in args.only:
        from .elementwise import run

        rows += run((10**3,) if args.quick else (10**3, 10**6))
    if "tutorial_q" in args.only:
        from .tutorial_q_latency import rows as q_rows

        rows += q_rows(200 if args.quick else 1000)
    if "resnet" in args.only:
        try:
            from .resnet_step import rows as resnet_rows
        except ImportError as error:
            print(f"(resnet workload unavailable: {error})")
        else:
            rows += resnet_rows(quick=args.quick)
    if "optim" in args.only:
        from .optim_step import rows as optim_rows

        rows += optim_rows(quick=args.quick)
    print(f"symgrad benchmarks — {datetime.date.today()}, {_cpu()}, one thread per library, "
          f"{time.perf_counter() - start:.0f} s\n")
    print(common.table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
