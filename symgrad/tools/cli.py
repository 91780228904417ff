"""The `symgrad` command: `demo` (the whole pipeline), `inspect` (read generated code), `graph` (draw the
DAG), `compile` (an ahead-of-time package, see `symgrad.tools.aot`).

`demo` runs the whole pipeline on built-in synthetic data: it differentiates the tutorial's
Q = 3a^3 - b^2, trains a small MLP whose gradient is generated code, shows that code, and says where
everything was written.

`inspect MODULE:CALLABLE --input NAME:DTYPE[SHAPE] ...` prints the module symgrad generates for a
function of yours on inputs of those dtypes and shapes; `graph ... -o dag.svg` draws its DAG (see
`symgrad.tools.viz`). Bad arguments give one line on stderr and exit status 2; an error raised while
tracing the function gives one line and exit status 1 (`--traceback` shows it whole).
"""

from __future__ import annotations

import argparse
import ast
import difflib
import importlib
import importlib.util
import inspect
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

from symgrad._version import __version__


def demo(out_dir: Path, steps: int) -> int:
    """The tutorial end to end on built-in data, then the three ways to use symgrad."""
    import symgrad

    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    print(f"symgrad {symgrad.__version__} demo: trace -> SymPy adjoints -> generated NumPy -> train\n")
    a, b = _demo_tutorial(symgrad)
    _demo_resnet(symgrad)
    _demo_code_and_picture(symgrad, a, b, out_dir)
    _demo_ahead_of_time(symgrad, out_dir, steps)
    print(f"\nDone in {time.perf_counter() - start:.1f} s. Written under {out_dir.resolve()}:")
    for path in sorted(p for p in out_dir.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        print(f"  {path.relative_to(out_dir)}")
    print(f"Generated-module cache: {symgrad.compiler.cache.cache_dir()}")
    return 0


def _demo_tutorial(torch):
    """"Differentiation in Autograd" and "Exclusion from the DAG", as the tutorial writes them."""
    print("1. The tutorial's Q = 3a^3 - b^2 on symgrad Tensors (import symgrad as torch)")
    a = torch.tensor([2., 3.], requires_grad=True)
    b = torch.tensor([6., 4.], requires_grad=True)
    Q = 3 * a**3 - b**2
    Q.backward(gradient=torch.tensor([1., 1.]))
    print(f"   9*a**2 == a.grad -> {9 * a**2 == a.grad};  -2*b == b.grad -> {-2 * b == b.grad}")
    x, z = torch.rand(5, 5), torch.rand((5, 5), requires_grad=True)
    print(f"   x + y requires grad: {(x + x).requires_grad};  x + z requires grad: {(x + z).requires_grad}\n")
    return a, b


def _demo_resnet(torch):
    """A ResNet-18 training step, then freezing the backbone and fine-tuning a new `fc`."""
    from symgrad import nn, optim

    print("2. ResNet-18 (random weights: nothing is downloaded) on a 1x3x64x64 image")
    torch.manual_seed(0)
    model = torch.models.resnet18()
    data, labels = torch.rand(1, 3, 64, 64), torch.rand(1, 1000)
    t0 = time.perf_counter()
    loss = (model(data) - labels).sum()
    loss.backward()
    optim.SGD(model.parameters(), lr=1e-2, momentum=0.9).step()
    print(f"   forward, backward, SGD(momentum=0.9) step: {time.perf_counter() - t0:.2f} s "
          f"(first step: the backward module is generated and cached)")
    model = torch.models.resnet18()  # as the tutorial: a fresh model, then freeze it
    for param in model.parameters():
        param.requires_grad = False
    model.fc = nn.Linear(512, 10)
    optimizer = optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
    before = {name: p.detach().numpy().copy() for name, p in model.named_parameters()}
    t0 = time.perf_counter()
    (model(data) - torch.rand(1, 10)).sum().backward()
    optimizer.step()
    changed = [n for n, p in model.named_parameters() if not np.array_equal(before[n], p.detach().numpy())]
    print(f"   frozen backbone, new fc: step {time.perf_counter() - t0:.2f} s; changed: {changed}")
    with torch.no_grad():
        print(f"   under no_grad() the output requires grad: {model(data).requires_grad}\n")


def _demo_code_and_picture(torch, a, b, out_dir: Path):
    """The generated backward code of Q, and the DAG picture of the tutorial."""
    from symgrad.tools import viz
    from symgrad.tools.demo import tutorial_q

    print("3. The generated code of Q's vector-Jacobian product (symgrad.show_code)")
    source = torch.show_code(tutorial_q, np.array([2., 3.]), np.array([6., 4.]))
    (out_dir / "tutorial_q_vjp.py").write_text(source)
    body = source[source.index("def backward"):].splitlines()
    print("\n".join("   " + line for line in body[:8]))
    q = 3 * a**3 - b**2
    result = viz.render(viz.to_dot(q, params={"a": a, "b": b}), out_dir / "tutorial_q_dag.svg")
    print(f"   DAG picture: {result.message}\n")


def _demo_ahead_of_time(torch, out_dir: Path, steps: int):
    """Compile an MLP with its SGD step into a NumPy-only package, then train with the package alone."""
    import importlib.util

    from symgrad.tools import aot
    from symgrad.tools.demo import mlp_module, report_progress, spirals

    print("4. Ahead of time: a 2-64-64-3 MLP and its SGD step compiled into a package that needs only NumPy")
    x, y = spirals(100, 3, np.random.default_rng(0))
    specs = [parse_input(f"x:float64[{len(x)},2]"), parse_input(f"target:int64[{len(x)}]")]
    package = out_dir / "mlp_package"
    files = aot.build(mlp_module, specs, module_factory=True, train="sgd", loss="cross_entropy", lr=0.1,
                      momentum=0.9, command="symgrad demo", out_name=package.name)
    aot.write(files, package)
    spec = importlib.util.spec_from_file_location("mlp_package", package / "__init__.py",
                                                  submodule_search_locations=[str(package)])
    compiled = importlib.util.module_from_spec(spec)
    sys.modules["mlp_package"] = compiled
    spec.loader.exec_module(compiled)
    params, state = compiled.load_params(), compiled.load_state()
    t0, first = time.perf_counter(), None
    for step in range(1, steps + 1):
        loss, params, state = compiled.train_step(params, state, x, y)
        first = float(loss) if first is None else first
        if step % 10 == 0 or step == steps:
            report_progress(step, steps, float(loss))
    logits, _ = compiled.forward(params, state, x)
    accuracy = float(np.mean(np.argmax(logits, axis=1) == y))
    print(f"\n   loss {first:.3f} -> {float(loss):.3f}, train accuracy {accuracy:.1%}, {steps} steps in "
          f"{time.perf_counter() - t0:.2f} s, using only {package.name}/ and NumPy")


# ============================================================================ inspect / graph
class UsageError(Exception):
    """A bad command-line argument: reported on one line, exit status 2."""


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but an error is one line on stderr (exit status 2), pointing at --help."""

    def error(self, message):
        message = " ".join(str(message).split())
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64",
          "uint8", "uint16", "uint32", "uint64", "bool")
_INPUT = re.compile(r"^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*:\s*(?P<dtype>[^\[\]=\s]+)\s*"
                    r"\[(?P<shape>[^\]]*)\]\s*(?:=(?P<value>.*))?$")
_INPUT_FORM = "NAME:DTYPE[SHAPE] (e.g. w:float64[3,4], n:int64[] or lr:float32[]=0.1)"


def parse_input(text: str):
    """'w:float64[3,4]' -> ('w', dtype('float64'), (3, 4), None); '=VALUE' fills the array."""
    match = _INPUT.match(text)
    if not match:
        raise UsageError(f"cannot parse --input {text!r}: expected {_INPUT_FORM}")
    name, dtype_text, shape_text, value_text = match.group("name", "dtype", "shape", "value")
    if dtype_text not in DTYPES:
        close = difflib.get_close_matches(dtype_text, DTYPES, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise UsageError(f"unknown dtype {dtype_text!r} in --input {text!r}: {hint}use one of {', '.join(DTYPES)}")
    items = [item.strip() for item in shape_text.split(",")]
    if items and items[-1] == "" and len(items) > 1:
        items.pop()  # a trailing comma, as in (3,)
    if items == [""]:
        items = []
    if not all(item.isdigit() for item in items):
        raise UsageError(f"bad shape [{shape_text}] in --input {text!r}: expected non-negative integers "
                         "separated by commas, e.g. [3,4], [5] or [] for a scalar")
    shape = tuple(int(item) for item in items)
    value = None
    if value_text is not None:
        try:
            value = ast.literal_eval(value_text.strip())
        except (ValueError, SyntaxError):
            value = None
        if isinstance(value, complex) or not isinstance(value, (bool, int, float)):
            raise UsageError(f"bad value {value_text.strip()!r} in --input {text!r}: expected a number "
                             "(the array is filled with it)")
    return name, np.dtype(dtype_text), shape, value


def load_target(spec: str):
    """(callable, its name) from 'package.module:name', 'file.py:name' or 'file.py:Class.method'."""
    module_text, sep, attr_path = spec.rpartition(":")
    if not sep or not module_text or not attr_path:
        raise UsageError(f"cannot parse {spec!r}: expected MODULE:CALLABLE, e.g. mymodel:loss or "
                         "path/to/model.py:loss")
    if not all(part.isidentifier() for part in attr_path.split(".")):
        raise UsageError(f"bad callable name {attr_path!r} in {spec!r}: expected a Python name such as "
                         "loss or Model.forward")
    is_file = module_text.endswith(".py") or "/" in module_text or os.sep in module_text
    if is_file:
        module = _load_file(Path(module_text))
    else:
        if not all(part.isidentifier() for part in module_text.split(".")):
            raise UsageError(f"bad module name {module_text!r}: give a dotted module importable from the "
                             "current directory (mypkg.model) or a file path (model.py)")
        cwd = os.getcwd()
        if cwd not in sys.path and "" not in sys.path:
            sys.path.insert(0, cwd)
        try:
            module = importlib.import_module(module_text)
        except ModuleNotFoundError as error:
            missing = error.name or module_text
            if module_text == missing or module_text.startswith(missing + "."):
                raise UsageError(f"module {module_text!r} not found (looked in {cwd} and sys.path); "
                                 "give a dotted module name or a path ending in .py") from None
            raise _TargetError(f"importing {module_text!r} failed: {_one_line(error)}", error) from None
        except Exception as error:
            raise _TargetError(f"importing {module_text!r} failed: {_one_line(error)}", error) from None
    target = module
    for k, part in enumerate(attr_path.split(".")):
        if not hasattr(target, part):
            where = module_text if k == 0 else ".".join(attr_path.split(".")[:k])
            names = [n for n in dir(target) if not n.startswith("_")]
            close = difflib.get_close_matches(part, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UsageError(f"{where!r} has no attribute {part!r}{hint}")
        target = getattr(target, part)
    if not callable(target):
        raise UsageError(f"{attr_path!r} in {module_text!r} is a {type(target).__name__}, not a callable")
    return target, attr_path


def _load_file(path: Path):
    if not path.is_file():
        raise UsageError(f"file {str(path)!r} not found")
    stem = re.sub(r"\W", "_", path.stem) or "target"
    name = f"_symgrad_cli_{stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot import {str(path)!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # its sibling modules import as they would when run as a script
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        sys.modules.pop(name, None)
        raise _TargetError(f"importing {str(path)!r} failed: {_one_line(error)}", error) from None
    return module


class _TargetError(Exception):
    """The user's code failed (importing, tracing): one line, exit status 1."""

    def __init__(self, message, cause=None):
        super().__init__(message)
        self.cause = cause


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def bind_inputs(fn, specs, seed: int):
    """Positional example arguments for `fn` from the parsed --input specs (matched by name)."""
    from symgrad.tools.aot import example_input as make_input

    rng = np.random.default_rng(seed)
    seen = {}
    for name, dtype, shape, value in specs:
        if name in seen:
            raise UsageError(f"--input {name} is given twice")
        seen[name] = (dtype, shape, value)
    plain = getattr(fn, "fn", fn)
    try:
        parameters = list(inspect.signature(plain).parameters.values())
    except (TypeError, ValueError):
        parameters = None
    if parameters is None or any(p.kind == p.VAR_POSITIONAL for p in parameters):
        return [make_input(*seen[n], rng) for n in seen]  # no usable signature: the order given
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    names = [p.name for p in positional]
    for name in seen:
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UsageError(f"{_fn_name(fn)} has no positional parameter {name!r}{hint}; its parameters: "
                             + (", ".join(names) or "none"))
    args, stopped = [], None
    for p in positional:
        if p.name in seen:
            if stopped is not None:
                raise UsageError(f"give --input for {stopped!r} too: parameters are passed by position, "
                                 f"and {p.name!r} comes after it")
            args.append(make_input(*seen[p.name], rng))
        elif p.default is p.empty:
            raise UsageError(f"missing --input for parameter {p.name!r} of {_fn_name(fn)}, e.g. "
                             f"--input {p.name}:float64[3]")
        elif stopped is None:
            stopped = p.name
    required_kw = [p.name for p in parameters if p.kind == p.KEYWORD_ONLY and p.default is p.empty]
    if required_kw:
        raise UsageError(f"{_fn_name(fn)} has keyword-only parameters without defaults "
                         f"({', '.join(required_kw)}); wrap it in a function of arrays only")
    return args


def _fn_name(fn) -> str:
    plain = getattr(fn, "fn", fn)
    return getattr(plain, "__qualname__", getattr(plain, "__name__", type(plain).__name__))


def _progress(message: str):
    """A note on stderr when it is a terminal (tracing and a first SymPy import take a moment)."""
    if sys.stderr.isatty():
        print(f"symgrad: {message}", file=sys.stderr, flush=True)


def generated_source(fn, args, part: str, backend: str = "numpy") -> tuple[str, str]:
    """(source, what) of the module symgrad generates for `fn(*args)`; `part` is forward|backward|both.

    With backend "c" the Python module is followed by the C source of its kernels.
    """
    import symgrad
    from symgrad.api import Specialised, VJPTransform

    plain = fn.fn if isinstance(fn, Specialised) else fn
    floats = [k for k, a in enumerate(args) if np.asarray(a).dtype.kind == "f"]
    if part == "forward":
        return _with_kernels(_compiled(plain, args, backend)), "forward module"
    if not floats:
        if part == "backward":
            raise UsageError("--part backward needs a floating-point --input: nothing else has a gradient")
        print("symgrad inspect: note: no floating-point input, so nothing to differentiate; showing the "
              "forward module", file=sys.stderr)
        return _with_kernels(_compiled(plain, args, backend)), "forward module"
    if part == "both" and isinstance(fn, Specialised) and backend == fn.backend:
        fn(*args)
        return _with_kernels(fn), "its own module"
    graph = symgrad.trace(plain, *args)
    outputs = [graph.nodes[i] for i in graph.outputs]
    scalar = len(outputs) == 1 and outputs[0].shape == () and np.dtype(outputs[0].dtype).kind == "f"
    if part == "both" and scalar:
        transform = symgrad.value_and_grad(plain, argnums=tuple(floats), backend=backend)
        transform(*args)
        return _with_kernels(transform), "value_and_grad module"
    transform = VJPTransform(plain, backend)  # the vjp module: forward + backward
    transform(*args)
    if part == "backward":
        return _with_kernels(transform, "backward"), "backward function of the vjp module"
    return _with_kernels(transform), "vjp module (forward and backward)"


def _compiled(fn, args, backend):
    import symgrad

    compiled = symgrad.compile(fn, backend=backend)
    compiled(*args)
    return compiled


def _with_kernels(transform, function: str | None = None) -> str:
    """The transform's Python source (or its one `function`), then the C source of the kernels it calls."""
    from symgrad.codegen import listing

    module = transform._last.module
    c_source = listing.kernels_source(module) if transform.backend == "c" else None
    c_name = Path(module.__file__).with_suffix(".c").name
    if function is None:
        return listing.module_listing(transform.code, c_source, c_name)
    return listing.function_listing(transform.code, function, c_source, c_name)


def _use_colour(choice: str) -> bool:
    if choice == "always":
        return True
    if choice == "never":
        return False
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


# ----------------------------------------------------------------------------- the commands
def inspect_command(args) -> int:
    fn, name = load_target(args.target)
    inputs = bind_inputs(fn, [parse_input(text) for text in args.input or ()], args.seed)
    if args.math:  # the derivative formulas instead of the code
        from symgrad.tools.show_math import show_math

        sys.stdout.write(str(_run_user(lambda: show_math(fn, *inputs), name)))
        return 0
    _progress(f"tracing {name} and generating code (a first run imports SymPy) ...")
    start = time.perf_counter()
    source, what = _run_user(lambda: generated_source(fn, inputs, args.part, args.backend), name)
    _progress(f"{what} of {name} ready in {time.perf_counter() - start:.2f} s")
    if _use_colour(args.color):
        from symgrad.codegen.listing import highlight

        source = highlight(source)
    sys.stdout.write(source)
    return 0


def graph_command(args) -> int:
    from symgrad.tools import viz

    output = args.output
    if output != "-":
        suffix = Path(output).suffix.lower().lstrip(".")
        if suffix not in viz.FORMATS:
            raise UsageError(f"cannot tell the picture format from {output!r}: end it with "
                             + ", ".join("." + f for f in viz.FORMATS) + " (or use -o - for DOT on stdout)")
    fn, name = load_target(args.target)
    inputs = bind_inputs(fn, [parse_input(text) for text in args.input or ()], args.seed)
    _progress(f"tracing {name} and finding the values its backward pass saves ...")
    dot_text = _run_user(lambda: viz.to_dot(fn, *inputs, show_saved=not args.no_saved), name)
    if output == "-":
        sys.stdout.write(dot_text)
        return 0
    result = viz.render(dot_text, output)
    if not result.ok:  # the format asked for could not be made (no Graphviz): say so, and fail
        print(f"symgrad graph: error: {result.message}", file=sys.stderr)
        return 1
    print(result.message)
    return 0


def compile_command(args) -> int:
    """`symgrad compile`: write an ahead-of-time package (see symgrad.tools.aot)."""
    from symgrad.tools import aot

    if args.lr is not None and not args.lr > 0:
        raise UsageError(f"--lr must be positive, got {args.lr}")
    if args.loss and not args.train:
        raise UsageError("--loss only applies with --train sgd|adam")
    if args.distributed and not args.train:
        raise UsageError("--distributed only applies with --train sgd|adam (it averages the training gradients)")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} exists and is not a folder")
    fn, name = load_target(args.target)
    specs = [parse_input(text) for text in args.input or ()]
    seen = set()
    for spec in specs:
        if spec[0] in seen:
            raise UsageError(f"--input {spec[0]} is given twice")
        seen.add(spec[0])
    factory = aot.is_module_factory(fn)
    if not factory:
        ordered = bind_inputs(fn, specs, args.seed)  # checks names against the signature
        del ordered
        by_name = {s[0]: s for s in specs}
        params = list(inspect.signature(fn).parameters)
        specs = [by_name[n] for n in params if n in by_name]
    if not specs:
        raise UsageError("give at least one --input NAME:DTYPE[SHAPE]")
    if args.backend == "c":
        from symgrad.codegen.c_backend import CompilerError, compiler

        try:
            compiler()
        except CompilerError as error:
            raise UsageError(str(error)) from None
    command = "symgrad compile " + " ".join(_quote(a) for a in args.argv)
    _progress(f"tracing {name} and generating its package ...")
    files = _run_user(lambda: aot.build(
        fn, specs, module_factory=factory, backend=args.backend, train=args.train, loss=args.loss,
        lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay, seed=args.seed,
        command=command, out_name=out.name, mode=args.mode, distributed=args.distributed), name)
    written = aot.write(files, out, args.backend)
    print(f"wrote {len(written)} files to {out}: " + ", ".join(p.name for p in written))
    return 0


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def _run_user(thunk, name):
    """Run tracing / code generation; the user's errors become one line (exit status 1)."""
    try:
        return thunk()
    except UsageError:
        raise
    except Exception as error:
        raise _TargetError(f"{name}: {_one_line(error)}", error) from None


_TARGET_HELP = ("the function: MODULE:CALLABLE, where MODULE is a dotted module importable from the "
                "current directory (mypkg.model) or a file path (model.py, src/model.py) and CALLABLE a "
                "name in it (loss, Model.loss)")
_INPUT_HELP = ("one argument of the function, matched to its parameters by NAME: DTYPE is one of "
               + ", ".join(DTYPES) + "; SHAPE is comma-separated sizes, [] for a scalar; floats are "
               "standard normal (see --seed), integers zero, or append =VALUE to fill the array. "
               "Repeat for each parameter, e.g. --input w:float64[3,4] --input x:float32[5,3] --input n:int64[]")
_SEED_HELP = "seed of the random example values (default: 0); shapes and dtypes, not values, pick the code"
_TRACEBACK_HELP = "show the whole Python traceback when the function fails to trace, not one line"

_INSPECT_EPILOG = """\
The generated code depends on the input shapes and dtypes, not their values. With --part both, a
function returning one float scalar gets its value_and_grad module (value and gradients with respect
to every float input, in one function); any other function gets its vjp module (forward, returning
outputs and saved values, and backward, from saved values and cotangents to gradients).

examples:
  symgrad inspect mymodel:loss --input w:float64[3,4] --input x:float32[5,3]
  symgrad inspect model.py:step --input params:float64[10] --input n:int64[] --part backward
  symgrad inspect mymodel:loss --input w:float64[3,4] --input x:float32[5,3] --color never > loss_grad.py
"""

_GRAPH_EPILOG = """\
The picture is drawn as torchviz draws PyTorch's autograd graph: grey boxes are the backward
functions of the ops (MulBackward0, PowBackward0, ...), light blue boxes the float inputs (leaves,
with their names and shapes), orange boxes the values each backward function saves, green boxes the
outputs; every box shows its shape. SVG, PNG and PDF need Graphviz's `dot` (apt-get install
graphviz); without it the .dot file is written instead, with the command that renders it, and the
exit status is 1.

examples:
  symgrad graph mymodel:loss --input w:float64[3,4] --input x:float32[5,3] -o dag.svg
  symgrad graph tutorial.py:Q --input a:float64[2] --input b:float64[2] -o q.png
  symgrad graph mymodel:loss --input w:float64[3,4] --input x:float32[5,3] -o - | dot -Tpdf -o dag.pdf
"""

_COMPILE_EPILOG = """\
MODULE:CALLABLE is either a NumPy function of the --input arrays, or a Module factory: a callable
without required arguments that returns an nn.Module (its parameters and buffers go to params.npz and
are inputs of the generated code; --input then names the arguments of its forward). The package in
--out imports only numpy: forward / backward (vjp style) and, with --train, train_step(params, state,
*inputs) -> (loss, new_params, new_state) with the optimiser's update generated too. With --train, a
NumPy function's first --input is the parameter array; a Module's output must be a scalar loss, or
give --loss and an --input named target. The same command writes the same bytes.

examples:
  symgrad compile examples/aot_models.py:tutorial_q --input a:float64[2] --input b:float64[2] --out q_pkg
  symgrad compile examples/aot_models.py:mlp --input x:float64[32,2] --input target:int64[32] \\
      --train sgd --lr 0.1 --momentum 0.9 --loss cross_entropy --out mlp_sgd
  symgrad compile examples/aot_models.py:resnet18 --input x:float32[1,3,64,64] --backend c --out resnet18
"""

_MAIN_EPILOG = """\
examples:
  symgrad demo --steps 100
  symgrad compile model.py:loss --input w:float64[3,4] --input x:float64[5,3] --out loss_pkg
  symgrad inspect mymodel:loss --input w:float64[3,4] --input x:float32[5,3]
  symgrad graph mymodel:loss --input w:float64[3,4] --input x:float32[5,3] -o dag.svg

Run `symgrad COMMAND --help` for a command's options.
"""


def _add_target_options(parser):
    parser.add_argument("target", metavar="MODULE:CALLABLE", help=_TARGET_HELP)
    parser.add_argument("--input", "-i", action="append", metavar="NAME:DTYPE[SHAPE]", help=_INPUT_HELP)
    parser.add_argument("--seed", type=int, default=0, help=_SEED_HELP)
    parser.add_argument("--traceback", action="store_true", help=_TRACEBACK_HELP)


def build_parser() -> argparse.ArgumentParser:
    """The `symgrad` argument parser (its subcommands: demo, inspect, graph)."""
    parser = _OneLineParser(prog="symgrad", description=__doc__.split("\n\n")[0],
                            epilog=_MAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"symgrad {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo_parser = commands.add_parser("demo", help="run the whole pipeline on built-in data")
    demo_parser.add_argument("--out", type=Path, default=Path("symgrad-demo"),
                             help="folder for what the demo writes (default: ./symgrad-demo)")
    demo_parser.add_argument("--steps", type=int, default=300, help="training steps (default: 300)")
    inspect_parser = commands.add_parser(
        "inspect", help="print the NumPy code symgrad generates for a function",
        description="Print the NumPy module symgrad generates for MODULE:CALLABLE on inputs of the given "
                    "dtypes and shapes, coloured when stdout is a terminal.",
        epilog=_INSPECT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_target_options(inspect_parser)
    inspect_parser.add_argument(
        "--part", choices=("forward", "backward", "both"), default="both",
        help="forward: the forward-only module (as symgrad.compile); backward: the backward function of "
             "the vjp module; both (default): the value_and_grad module for a scalar function, else the "
             "vjp module's forward and backward, e.g. --part backward")
    inspect_parser.add_argument("--backend", choices=("numpy", "c"), default="numpy",
                                help="code generator: numpy (default), or c to see the module that calls "
                                     "compiled C loops followed by their C source, e.g. --backend c")
    inspect_parser.add_argument("--math", action="store_true",
                                help="print the derivative formulas SymPy derived (per fused elementwise region "
                                     "and per primitive) instead of the code, e.g. --math")
    inspect_parser.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                                help="ANSI colours: auto (default) colours when stdout is a terminal and "
                                     "NO_COLOR is unset; uses Pygments if installed, e.g. --color never")
    compile_parser = commands.add_parser(
        "compile", help="compile a function or Module ahead of time into a NumPy-only package",
        description="Trace MODULE:CALLABLE on inputs of the given dtypes and shapes and write a standalone "
                    "package (forward, backward, optionally train_step) that needs only NumPy.",
        epilog=_COMPILE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_target_options(compile_parser)
    compile_parser.add_argument("--out", "-o", required=True, metavar="DIR",
                                help="folder to write the package to (created; files in it are replaced), "
                                     "e.g. --out mlp_pkg")
    compile_parser.add_argument("--backend", choices=("numpy", "c"), default="numpy",
                                help="numpy (default): plain NumPy; c: fused elementwise loops as C built "
                                     "with portable flags (kernels.c + kernels.so), e.g. --backend c")
    compile_parser.add_argument("--train", choices=("sgd", "adam"),
                                help="also generate train_step with this optimiser (PyTorch's update rule), "
                                     "e.g. --train adam")
    compile_parser.add_argument("--lr", type=float, help="learning rate (default: 0.01 for sgd, 0.001 for adam)")
    compile_parser.add_argument("--momentum", type=float, default=0.0, help="SGD momentum (default 0), e.g. 0.9")
    compile_parser.add_argument("--weight-decay", type=float, default=0.0,
                                help="L2 weight decay added to the gradient (default 0)")
    compile_parser.add_argument("--loss", choices=("mse", "cross_entropy"),
                                help="with --train on a Module: the loss of its output and the --input named "
                                     "target, e.g. --loss cross_entropy")
    compile_parser.add_argument("--mode", choices=("train", "eval"),
                                help="a Module's mode while traced (default: train with --train, else eval)")
    compile_parser.add_argument("--distributed", action="store_true",
                                help="with --train: train_step averages the gradients over MPI ranks "
                                     "(run with mpiexec -n N; mpi4py is imported only then)")
    graph_parser = commands.add_parser(
        "graph", help="draw the DAG of a function (SVG/PNG via Graphviz, or DOT)",
        description="Trace MODULE:CALLABLE on inputs of the given dtypes and shapes and draw its DAG.",
        epilog=_GRAPH_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_target_options(graph_parser)
    graph_parser.add_argument("-o", "--output", default="dag.svg", metavar="FILE",
                              help="where to write: .svg (default: dag.svg), .png, .pdf, .dot/.gv, or - "
                                   "for DOT text on stdout, e.g. -o loss.png")
    graph_parser.add_argument("--no-saved", action="store_true",
                              help="leave out the orange boxes of saved values, e.g. --no-saved")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.steps < 1:
            parser.error("--steps must be at least 1")
        return demo(args.out, args.steps)
    if args.command in ("inspect", "graph", "compile"):
        run = {"inspect": inspect_command, "graph": graph_command, "compile": compile_command}[args.command]
        args.argv = list(argv if argv is not None else sys.argv[1:])[1:]
        prog = f"symgrad {args.command}"
        try:
            return run(args)
        except UsageError as error:
            print(f"{prog}: error: {' '.join(str(error).split())}", file=sys.stderr)
            return 2
        except _TargetError as error:
            if args.traceback and error.cause is not None:
                raise error.cause
            print(f"{prog}: error: {' '.join(str(error).split())}", file=sys.stderr)
            return 1
        except BrokenPipeError:
            return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
