"""conv2d forward + backward: symgrad's generated NumPy vs torch vs the sum of its three GEMMs, one thread.

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/conv_bench.py [--layers] [--cpu-time]

x 16x64x16x16, w 64x64x3x3, padding 1 (a resnet18 layer1 conv at 64x64 input), float32 and float64.
"symgrad" runs the three conv rows' kernels (forward, input gradient, weight gradient: the helpers
generated modules call, as symgrad runs them in-process: with C im2col / col2im where a C compiler is
found, see symgrad/codegen/conv_c.py; SYMGRAD_CONV_KERNELS=numpy times their plain NumPy definitions);
"symgrad.vjp" the whole `symgrad.vjp` call (its trace also evaluates the forward once, then the
generated forward and backward modules run); torch runs `conv2d(...)` then `.backward(g)` with
`torch.set_num_threads(1)`.
"sum of its GEMMs" times the three matrix products alone on ready-made operands: forward
(O, C*9) @ (C*9, N*H*W), input gradient (C, O*9) @ (O*9, N*H*W) and weight gradient
(O, N*H*W) @ (N*H*W, C*9): the floor for any im2col-style kernel; the rest is data movement.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import symgrad  # noqa: E402
from symgrad.codegen import conv_c  # noqa: E402
from symgrad.composites.nn_composites import conv2d  # noqa: E402
from symgrad.core.primitives import PRIMITIVES  # noqa: E402

SHAPES = dict(x=(16, 64, 16, 16), w=(64, 64, 3, 3))


CLOCK = time.perf_counter  # --cpu-time: time.process_time, robust when other jobs share the cores


def median_ms(fn, repeat, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = CLOCK()
        fn()
        times.append(CLOCK() - start)
    return statistics.median(times) * 1e3


def _torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    return torch


def gemm_floor_ms(x, w, repeat):
    """Median time of the three GEMMs of an im2col conv (forward, input and weight gradient)."""
    n, c, h, wd = x.shape
    o, kk = w.shape[0], w.shape[2] * w.shape[3]
    rng = np.random.default_rng(1)
    cols = rng.standard_normal((c * kk, n * h * wd)).astype(x.dtype)  # im2col of x
    gcols = rng.standard_normal((o * kk, n * h * wd)).astype(x.dtype)  # im2col of padded g
    g = rng.standard_normal((o, n * h * wd)).astype(x.dtype)
    wf, wt = w.reshape(o, -1), np.ascontiguousarray(w.transpose(1, 0, 2, 3)).reshape(c, -1)
    return (median_ms(lambda: wf @ cols, repeat) + median_ms(lambda: wt @ gcols, repeat)
            + median_ms(lambda: g @ cols.T, repeat))


def measure(dtype, batch=16, repeat=30):
    """{name: ms} for one conv's forward + backward: symgrad, torch (if installed), the GEMMs' sum."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch,) + SHAPES["x"][1:]).astype(dtype)
    w = rng.standard_normal(SHAPES["w"]).astype(dtype)
    g = rng.standard_normal((batch, 64, 16, 16)).astype(dtype)

    def f(x, w):
        return conv2d(x, w, padding=1)

    def symgrad_step():
        _, vjp_fn = symgrad.vjp(f, x, w)
        return vjp_fn(g)

    attrs = dict(kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=1)

    def kernels():  # the three rows' kernels, as symgrad runs them in eager steps and loaded modules
        PRIMITIVES["conv2d"].numpy(x, w, **attrs)
        PRIMITIVES["conv2d_input_grad"].numpy(g, w, input_size=x.shape[2:], **attrs)
        PRIMITIVES["conv2d_weight_grad"].numpy(g, x, **attrs)

    symgrad_step()  # trace + generate + cache
    result = {"symgrad": median_ms(kernels, repeat), "symgrad.vjp": median_ms(symgrad_step, repeat),
              "gemms": gemm_floor_ms(x, w, repeat)}
    torch = _torch()
    if torch is not None:
        import torch.nn.functional as F

        tx, tw, tg = (torch.from_numpy(a) for a in (x, w, g))
        tx.requires_grad_(True)
        tw.requires_grad_(True)

        def torch_step():
            tx.grad = tw.grad = None
            F.conv2d(tx, tw, padding=1).backward(tg)

        result["torch"] = median_ms(torch_step, repeat)
        dx, dw = symgrad_step()
        torch_step()
        result["max rel grad diff"] = max(
            np.abs(dx - tx.grad.numpy()).max() / np.abs(tx.grad.numpy()).max(),
            np.abs(dw - tw.grad.numpy()).max() / np.abs(tw.grad.numpy()).max())
    return result


# resnet18's stride-1 3x3 convs at 64x64 input: (C = O, H = W) of layer1..layer4
LAYERS = ((64, 16), (128, 8), (256, 4), (512, 2))


def layer_table(batch, repeat):
    """Per resnet18 layer: each kernel and the GEMM it contains (float32), in ms."""
    rng = np.random.default_rng(2)
    attrs = dict(kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=1)
    print(f"batch {batch}: kernel ms (its GEMM ms), float32, median of {repeat}")
    for c, h in LAYERS:
        x, g = (rng.standard_normal((batch, c, h, h)).astype(np.float32) for _ in range(2))
        w = rng.standard_normal((c, c, 3, 3)).astype(np.float32)
        cols = rng.standard_normal((c * 9, batch * h * h)).astype(np.float32)
        gm = rng.standard_normal((c, batch * h * h)).astype(np.float32)
        wf, wt = w.reshape(c, -1), np.ascontiguousarray(w.transpose(1, 0, 2, 3)).reshape(c, -1)
        times = [
            median_ms(lambda: PRIMITIVES["conv2d"].numpy(x, w, **attrs), repeat),
            median_ms(lambda: wf @ cols, repeat),
            median_ms(lambda: PRIMITIVES["conv2d_input_grad"].numpy(g, w, input_size=(h, h), **attrs), repeat),
            median_ms(lambda: wt @ cols, repeat),
            median_ms(lambda: PRIMITIVES["conv2d_weight_grad"].numpy(g, x, **attrs), repeat),
            median_ms(lambda: gm @ cols.T, repeat),
        ]
        print(f"  C=O={c:<4d} {h:2d}x{h:<2d}  forward {times[0]:6.2f} ({times[1]:5.2f})  input grad "
              f"{times[2]:6.2f} ({times[3]:5.2f})  weight grad {times[4]:6.2f} ({times[5]:5.2f})  "
              f"total vs GEMMs {sum(times[::2]) / sum(times[1::2]):4.2f}x")


def rows(repeat=20):
    """Benchmark-table rows (python -m benchmarks): the float32 conv, with its GEMM floor as a peer."""
    from .common import Row

    ms = measure(np.float32, repeat=repeat)
    name = "resnet 3x3 conv fwd+bwd 16x64x16x16 float32"
    kind = "C im2col" if conv_c.usable(np.ones(1, np.float32)) else "NumPy im2col"
    out = [Row(name, f"symgrad (its 3 kernels, {kind})", ms["symgrad"] / 1e3,
               f"{ms['symgrad'] / ms['gemms']:.2f}× the sum of its GEMMs"),
           Row(name, "symgrad.vjp (trace + forward + backward)", ms["symgrad.vjp"] / 1e3)]
    if "torch" in ms:
        out.append(Row(name, "torch", ms["torch"] / 1e3))
    out.append(Row(name, "sum of its 3 GEMMs (NumPy @)", ms["gemms"] / 1e3))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--layers", action="store_true", help="every resnet18 3x3 layer, each kernel")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with process CPU time (one thread: robust on a shared, loaded machine)")
    args = parser.parse_args()
    if args.cpu_time:
        global CLOCK
        CLOCK = time.process_time
    if args.layers:
        for batch in (1, 16):
            layer_table(batch, args.repeat)
        return
    print(f"conv2d fwd+bwd, x {(args.batch,) + SHAPES['x'][1:]}, w {SHAPES['w']}, padding 1, one thread, "
          f"median of {args.repeat}")
    for dtype in (np.float32, np.float64):
        ms = measure(dtype, args.batch, args.repeat)
        line = (f"{np.dtype(dtype).name:8s} symgrad {ms['symgrad']:7.2f} ms (symgrad.vjp "
                f"{ms['symgrad.vjp']:6.2f} ms)   sum of its GEMMs "
                f"{ms['gemms']:7.2f} ms   conv fwd+bwd vs sum of its GEMMs "
                f"{ms['symgrad'] / ms['gemms']:5.2f}x")
        if "torch" in ms:
            line += (f"   torch {ms['torch']:7.2f} ms   ratio {ms['symgrad'] / ms['torch']:5.2f}x"
                     f"   max rel grad diff {ms['max rel grad diff']:.1e}")
        print(line)


if __name__ == "__main__":
    main()
