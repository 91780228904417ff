"""One ResNet-18 training step (forward, loss, backward, SGD-momentum step), symgrad vs torch, one thread.

Cases: batch 1 and 16 at 3x64x64, all parameters trainable ("full") and backbone frozen with a new
`fc = Linear(512, 10)` ("frozen", the tutorial's fine-tuning). Each case reports the first step
(symgrad: includes generating its backward module, or loading it from the disk cache) and the
median of the following steps. torch is a benchmark peer only (skipped when not installed).

Run: python benchmarks/resnet_step.py [--repeats 5] [--batches 1 16] [--profile] [--cpu-time]
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy is imported
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
import symgrad


def _symgrad_case(batch, frozen, mode="eager", backend="numpy"):
    """mode: "eager", "compile(model)" (forward and backward modules) or "compile(step)" (one module);
    backend: of the compiled modules."""
    symgrad.manual_seed(0)
    model = symgrad.models.resnet18()
    if frozen:
        for p in model.parameters():
            p.requires_grad = False
        model.fc = symgrad.nn.Linear(512, 10)
    opt = symgrad.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x = symgrad.rand(batch, 3, 64, 64)
    y = symgrad.tensor(np.arange(batch) % 10)
    forward = symgrad.compile(model, backend=backend) if mode == "compile(model)" else model

    def step():
        opt.zero_grad()
        loss = symgrad.nn.functional.cross_entropy(forward(x), y)
        loss.backward()
        opt.step()

    return symgrad.compile(step, backend=backend) if mode == "compile(step)" else step


def _torch_case(batch, frozen):
    import torch
    from torch_resnet import ResNet18

    torch.manual_seed(0)
    model = ResNet18()
    if frozen:
        for p in model.parameters():
            p.requires_grad = False
        model.fc = torch.nn.Linear(512, 10)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x = torch.rand(batch, 3, 64, 64)
    y = torch.arange(batch) % 10

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    return step


CLOCK = time.perf_counter  # --cpu-time: time.process_time, robust when other jobs share the cores


def _time(step, repeats, warmup=0):
    t = CLOCK()
    step()
    first = CLOCK() - t
    for _ in range(warmup):  # compiled steps: the second step has momentum buffers, a new variant
        step()
    times = []
    for _ in range(repeats):
        t = CLOCK()
        step()
        times.append(CLOCK() - t)
    return first, statistics.median(times)


_CHILD = """
import os, sys, time
sys.path[:0] = {paths!r}
os.environ["OPENBLAS_NUM_THREADS"] = "1"
import resnet_step as rs
lib = {lib!r}
if lib == "torch":
    import torch
    torch.set_num_threads(1)
    step = rs._torch_case({batch}, False)
else:
    step = rs._symgrad_case({batch}, False)
def high_water():  # VmHWM: this address space's peak RSS (ru_maxrss would carry the parent's over exec)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
before = high_water()
t = time.perf_counter(); step(); first = time.perf_counter() - t
t = time.perf_counter(); step(); second = time.perf_counter() - t
print(first, second, (high_water() - before) * 1024)
"""


def _child(lib, batch, cache_dir):
    """(first step, second step, peak RSS growth in bytes) of a fresh process."""
    import subprocess

    here = os.path.dirname(os.path.abspath(__file__))
    code = _CHILD.format(paths=[here, os.path.dirname(here), os.path.join(os.path.dirname(here), "tests")],
                         lib=lib, batch=batch)
    env = {**os.environ, "SYMGRAD_CACHE_DIR": cache_dir}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    first, second, grown = (float(v) for v in out.stdout.split())
    return first, second, grown


def rows(quick: bool = False, repeats: int = 5):
    """Benchmark-table rows (see benchmarks/__main__.py): steps, compile time, peak memory."""
    import tempfile

    from .common import Row

    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        torch = None
    result = []
    for batch in (1,) if quick else (1, 16):
        for frozen in (False, True):
            name = f"resnet18 step {batch}x3x64x64{' frozen backbone' if frozen else ''}"
            result.append(Row(name, "symgrad (eager)", _time(_symgrad_case(batch, frozen), repeats)[1]))
            for mode, backend in () if frozen else (("compile(model)", "numpy"), ("compile(step)", "numpy"),
                                                    ("compile(step)", "c")):
                step = _symgrad_case(batch, frozen, mode, backend)
                result.append(Row(name, f"symgrad {mode} ({backend})", _time(step, repeats, warmup=1)[1]))
            if torch is not None:
                result.append(Row(name, "torch", _time(_torch_case(batch, frozen), repeats)[1]))
    with tempfile.TemporaryDirectory() as cache:
        cold_first, cold_second, _ = _child("symgrad", 1, cache)
        warm_first, warm_second, _ = _child("symgrad", 1, cache)
    result.append(Row("resnet18 step: generating code (first step - second)", "symgrad, cold cache",
                      cold_first - cold_second))
    result.append(Row("resnet18 step: generating code (first step - second)", "symgrad, warm cache",
                      warm_first - warm_second))
    if not quick:
        with tempfile.TemporaryDirectory() as cache:
            _child("symgrad", 16, cache)  # warm the cache: memory of the steady state
            grown = _child("symgrad", 16, cache)[2]
        result.append(Row("resnet18 16x3x64x64 step: peak RSS growth (MB, not s)", "symgrad (eager)", grown / 1e6))
        if torch is not None:
            result.append(Row("resnet18 16x3x64x64 step: peak RSS growth (MB, not s)", "torch",
                              _child("torch", 16, tempfile.gettempdir())[2] / 1e6))
        from .conv_bench import rows as conv_rows

        result += conv_rows()  # one of its convs against the floor of its three GEMMs
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--profile", action="store_true", help="cProfile symgrad's steady-state step")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with process CPU time (one thread: robust on a shared, loaded machine)")
    args = parser.parse_args()
    if args.cpu_time:
        global CLOCK
        CLOCK = time.process_time
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        torch = None
    print(f"symgrad {symgrad.__version__}, numpy {np.__version__}"
          + (f", torch {torch.__version__} ({torch.get_num_threads()} thread)" if torch else ", torch not installed"))
    print(f"{'case':<22}{'symgrad first':>15}{'symgrad median':>16}{'torch median':>14}{'ratio':>8}")
    for batch in args.batches:
        for frozen in (False, True):
            name = f"{batch}x3x64x64 {'frozen' if frozen else 'full'}"
            step = _symgrad_case(batch, frozen)
            first, median = _time(step, args.repeats)
            t_median = _time(_torch_case(batch, frozen), args.repeats)[1] if torch else float("nan")
            print(f"{name:<22}{first * 1e3:>13.0f}ms{median * 1e3:>14.0f}ms{t_median * 1e3:>12.0f}ms"
                  f"{median / t_median:>7.1f}x")
            if args.profile:
                import cProfile
                import pstats

                cProfile.runctx("for _ in range(3): step()", globals(), {"step": step}, "/tmp/resnet_step.prof")
                pstats.Stats("/tmp/resnet_step.prof").sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    main()
