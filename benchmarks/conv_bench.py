"""conv2d forward + backward: symgrad's generated NumPy vs torch, one thread each, median time.

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/conv_bench.py

x 16x64x16x16, w 64x64x3x3, padding 1, float32 and float64. symgrad runs through `symgrad.vjp`
(generated forward module, then generated backward module, cache hit after the first call); torch
runs `conv2d(...)` then `.backward(g)` with `torch.set_num_threads(1)`.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import symgrad  # noqa: E402
from symgrad.nn_ops import conv2d  # noqa: E402


def median_ms(fn, repeat, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    shapes = dict(x=(args.batch, 64, 16, 16), w=(64, 64, 3, 3))
    print(f"conv2d fwd+bwd, x {shapes['x']}, w {shapes['w']}, padding 1, one thread, "
          f"median of {args.repeat}")
    try:
        import torch
        import torch.nn.functional as F

        torch.set_num_threads(1)
    except ImportError:
        torch = None
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal(shapes["x"]).astype(dtype)
        w = rng.standard_normal(shapes["w"]).astype(dtype)
        g = rng.standard_normal((args.batch, 64, 16, 16)).astype(dtype)

        def f(x, w):
            return conv2d(x, w, padding=1)

        def symgrad_step():
            _, vjp_fn = symgrad.vjp(f, x, w)
            return vjp_fn(g)

        symgrad_step()  # trace + generate + cache
        ms = median_ms(symgrad_step, args.repeat)
        line = f"{np.dtype(dtype).name:8s} symgrad {ms:7.2f} ms"
        if torch is not None:
            tx, tw, tg = (torch.from_numpy(a) for a in (x, w, g))
            tx.requires_grad_(True)
            tw.requires_grad_(True)

            def torch_step():
                tx.grad = tw.grad = None
                F.conv2d(tx, tw, padding=1).backward(tg)

            tms = median_ms(torch_step, args.repeat)
            dx, dw = symgrad_step()
            torch_step()
            err = max(np.abs(dx - tx.grad.numpy()).max() / np.abs(tx.grad.numpy()).max(),
                      np.abs(dw - tw.grad.numpy()).max() / np.abs(tw.grad.numpy()).max())
            line += f"   torch {tms:7.2f} ms   ratio {ms / tms:5.2f}x   max rel grad diff {err:.1e}"
        print(line)


if __name__ == "__main__":
    main()
