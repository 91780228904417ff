"""Ahead-of-time compilation: a NumPy function or an nn.Module into a standalone package.

`write_package(target, inputs, out_dir, ...)` traces `target` once on example inputs and writes

    out_dir/__init__.py   forward / backward (vjp style) [/ train_step], load_params(), load_state()
    out_dir/model.py      the generated module (numpy only; stamped header, source-line comments)
    out_dir/params.npz    parameters, buffers and constants (Module targets, or --train)
    out_dir/kernels.c     C backend only: the kernels' source; kernels.so is built from it
    out_dir/README.md     how it was made (the command, symgrad's version; no dates) and how to call it

`target` is either a NumPy function of arrays (the --input arrays), or a *Module factory*: a callable
taking no arguments that returns an nn.Module, whose parameters and buffers become inputs of the
generated code and are stored in params.npz. With `train="sgd"|"adam"` a `train_step(params, state,
*inputs) -> (loss, new_params, new_state)` is generated too: the loss (the target's scalar output, or
`loss="mse"|"cross_entropy"` applied to a Module's output and the input named `target`), its
gradient, and the optimiser update written as elementwise IR (PyTorch's SGD-with-momentum and Adam
rules), which fusion turns into one expression (C: one loop) per parameter. With `distributed=True`
the step is generated as two functions, `loss_and_grads` and `apply_update`, and the package's
`train_step` (templates/aot_distributed_init.py.j2) averages the gradients between them over the
MPI ranks (one fused Allreduce per dtype); it imports mpi4py only under a launcher with more than one
rank, so the package still runs with NumPy alone, and an uncaught exception on any rank aborts the job.

The graphs go through the pipeline's stages (`pipeline.vjp_graphs`: derive -> split;
`derive.gradient_graph`; `pipeline.emit_source`) as every other front end's, without its cache
(a package is written, not imported).

Everything written is deterministic: the same command gives the same bytes (the .npz archive is
written with fixed timestamps; the C library is the one file that is not byte-identical across
compilers, and it is not written unless `backend="c"`).
"""

from __future__ import annotations

import dataclasses
import io
import re
import zipfile
from pathlib import Path

import numpy as np

from symgrad._version import __version__
from symgrad.core import tree
from symgrad.core.ir import Graph, Node, dead_code_eliminated
from symgrad.interpret.trace import Builder, TraceError, Tracer, at_location, tracing

OPTIMISERS = ("sgd", "adam")
LIBRARY = "kernels.so"  # the C backend's compiled kernels, built from kernels.c in the package
LOSSES = ("mse", "cross_entropy")


def _identifier(name: str) -> str:
    text = re.sub(r"\W", "_", str(name)).strip("_") or "p"
    return "p" + text if text[0].isdigit() else text


def is_module_factory(target) -> bool:
    import inspect

    try:
        params = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return False
    return all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params)


# ============================================================================ tracing
class _Traced:
    """A traced target: builder, named input nodes by role, output nodes, state updates, constants."""

    def __init__(self, name, source_fn, builder, params, state, inputs, outputs, updates):
        self.name, self.source_fn, self.builder = name, source_fn, builder
        self.params = params  # [(name, node, array)] trainable
        self.state = state  # [(name, node, array)] buffers (and frozen parameters)
        self.inputs = inputs  # [(name, node, array)]
        self.outputs = outputs  # [node]
        self.updates = updates  # {state name: node} new values of buffers (train mode)
        self.extra = []  # [(name, node, array)] inputs of the loss only (the target)


def _trace_module(factory, specs, mode: str, seed: int, loss=None) -> _Traced:
    from symgrad.interpret.tensor_core import Tensor, new_tensor
    from symgrad.torch_frontend.compile_tensor import TensorTrace, named_state

    model = factory()
    if not (hasattr(model, "named_parameters") and callable(model)):
        raise TraceError(f"{getattr(factory, '__name__', factory)}() returned a {type(model).__name__}, "
                         "not an nn.Module: give a NumPy function or a callable returning a Module")
    model.train(mode == "train")
    named = named_state(model)
    rng = np.random.default_rng(seed)
    builder = Builder(type(model).__name__)
    names = {id(t): _identifier(n) for n, t in named}
    trace = TensorTrace(builder, names)
    params, state = [], []
    for name, t in named:
        index = trace._input(t, _identifier(name), ("captured", t))
        entry = (_identifier(name), index, np.array(t._value))
        (params if t._requires_grad and t._value.dtype.kind == "f" else state).append(entry)
    trace.add_state([t for _, t in named])
    inputs, args, extra = [], [], []
    for k, (name, dtype, shape, value) in enumerate(specs):
        array = example_input(dtype, shape, value, rng)
        if loss is not None and name == "target":  # the loss's, not the model's
            extra.append((name, array))
            continue
        x = new_tensor(array)
        index = trace.add_argument(x, name, k)
        inputs.append((name, index, array))
        args.append(x)
    from symgrad.torch_frontend.compile_tensor import run_recorded

    out = run_recorded(trace, model, *args)
    if trace.linked or trace.draws:
        raise TraceError("the model draws random numbers (dropout in train mode): ahead-of-time packages "
                         "are deterministic; compile it in eval mode or without dropout")
    leaves = tree.flatten(out)[0]
    outputs = [trace.node(o) for o in leaves if isinstance(o, Tensor)]
    updates = {}
    for t, index in trace.updates():
        updates[names[id(t)]] = index
    trace.restore()
    traced = _Traced(type(model).__name__, type(model).forward, builder, params, state, inputs, outputs, updates)
    for name, array in extra:
        if array.dtype.kind in "iu" and outputs:  # class indices: valid ones for the example trace
            n_classes = builder.nodes[outputs[0]].shape[-1]
            array = (np.arange(array.size) % n_classes).reshape(array.shape).astype(array.dtype)
        traced.extra.append((name, builder.input(name, array.shape, array.dtype, array).index, array))
    return traced


def _trace_function(fn, specs, seed: int, n_params: int) -> _Traced:
    from symgrad.compiler.pipeline import qualified_name as _name

    rng = np.random.default_rng(seed)
    builder = Builder(_name(fn))
    entries = []
    with tracing(builder):
        tracers = []
        for name, dtype, shape, value in specs:
            array = example_input(dtype, shape, value, rng)
            t = builder.input(name, array.shape, array.dtype, array)
            entries.append((name, t.index, array))
            tracers.append(t)
        out = fn(*tracers)
        leaves = [o if isinstance(o, Tracer) else Tracer(builder, builder.constant(np.asarray(o)))
                  for o in tree.flatten(out)[0]]
    return _Traced(_name(fn), fn, builder, entries[:n_params], [], entries[n_params:],
                   [o.index for o in leaves], {})


def example_input(dtype, shape, value, rng) -> np.ndarray:
    """The example array: `value` everywhere if given, else standard normal floats, zero integers."""
    if value is not None:
        return np.full(shape, value, dtype=dtype)
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    return np.zeros(shape, dtype=dtype)


# ============================================================================ graphs
def _recorded(builder: Builder, inputs, outputs, name) -> Graph:
    """Everything `builder` recorded, as a Graph of `outputs` over `inputs` then every constant.

    Node positions are the builder's (the pipeline's derive stage takes them with `builder.values`);
    every function of the package takes all the constants, in the builder's order.
    """
    return Graph(tuple(builder.nodes), tuple(inputs) + tuple(builder.const_inputs), tuple(outputs), name,
                 tuple(builder.guards))


def _chained(first: Graph, then: Graph, feeds: dict, at: int, name: str) -> Graph:
    """`then` computed after `first`, in one graph: its inputs in `feeds` (position in `then` ->
    position in `first`) read `first`'s values, its other inputs are inserted at `at` among `first`'s.
    Outputs: `first`'s, then `then`'s; dead code removed."""
    nodes, position = list(first.nodes), dict(feeds)
    for j, node in enumerate(then.nodes):
        if j not in position:
            nodes.append(Node(node.op, tuple(position[k] for k in node.inputs), node.attrs, node.shape,
                              node.dtype, node.where))
            position[j] = len(nodes) - 1
    added = tuple(position[j] for j in then.inputs if j not in feeds)
    return dead_code_eliminated(Graph(
        tuple(nodes), first.inputs[:at] + added + first.inputs[at:],
        first.outputs + tuple(position[j] for j in then.outputs), name, first.guards))


def _loss(traced: _Traced, loss: str | None) -> Tracer:
    builder = traced.builder
    if loss is None:
        if len(traced.outputs) != 1 or builder.nodes[traced.outputs[0]].shape != ():
            raise TraceError(f"--train needs a scalar loss: {traced.name} returns "
                             f"{[builder.nodes[i].shape for i in traced.outputs]}; give --loss mse|cross_entropy "
                             "and an --input named target")
        return Tracer(builder, traced.outputs[0])
    targets = [e for e in traced.inputs + traced.extra if e[0] == "target"]
    if not targets:
        raise TraceError(f"--loss {loss} needs an --input named target (the labels or regression targets)")
    out, target = Tracer(builder, traced.outputs[0]), Tracer(builder, targets[0][1])
    from symgrad.composites import nn_composites

    with tracing(builder), at_location(f"symgrad compile --loss {loss}"):
        loss_fn = nn_composites.cross_entropy if loss == "cross_entropy" else nn_composites.mse_loss
        return loss_fn(out, target)


def _optimiser(builder, params, grads, kind, hyper):
    """(new params, state inputs [(name, node, initial array)], new state) of one optimiser step.

    The update is `symgrad.optim.rules`' (the eager optimisers' own rule), traced on the IR.
    """
    from symgrad.optim import rules

    state_inputs, new_state, new_params = [], [], []

    def state_input(name, value):
        node = builder.input(name, value.shape, value.dtype, np.zeros_like(value))
        state_inputs.append((name, node.index, np.zeros_like(value)))
        return node

    with tracing(builder), at_location(f"symgrad compile --train {kind}: the optimiser step"):
        step = state_input("step", np.zeros(()))
        new_step = step + 1.0
        new_state.append(new_step)
        for (name, index, value), g in zip(params, grads):
            p = Tracer(builder, index)
            if kind == "sgd":
                buf = state_input(f"{name}_momentum_buffer", value) if hyper["momentum"] else None
                p, buf = rules.sgd(p, g, buf, lr=hyper["lr"], momentum=hyper["momentum"],
                                   dampening=hyper["dampening"], weight_decay=hyper["weight_decay"],
                                   nesterov=hyper["nesterov"], first_step=step == 0)
                new_state += [buf] if hyper["momentum"] else []
            else:
                b1, b2 = hyper["betas"]
                exp_avg, exp_avg_sq = state_input(f"{name}_exp_avg", value), state_input(f"{name}_exp_avg_sq", value)
                p, exp_avg, exp_avg_sq, _ = rules.adam(p, g, exp_avg, exp_avg_sq, None, new_step, lr=hyper["lr"],
                                                       beta1=b1, beta2=b2, eps=hyper["eps"],
                                                       weight_decay=hyper["weight_decay"])
                new_state += [exp_avg, exp_avg_sq]
            new_params.append(p)
    return new_params, state_inputs, new_state


# ============================================================================ the package
class _Step:
    """A training step recorded on the traced builder before anything is derived (so that every
    generated function takes the same constants): the loss, and the optimiser's update of the
    parameters from gradient *inputs* (the derived gradients are fed in by `_chained`)."""

    def __init__(self, traced: _Traced, kind: str, loss, hyper: dict):
        builder, params = traced.builder, traced.params
        self.kind = kind
        self.loss = _loss(traced, loss).index
        self.buffer_updates = [traced.updates.get(e[0], e[1]) for e in traced.state]
        self.grad_inputs = [builder.input(f"{e[0]}_grad", e[2].shape, e[2].dtype, np.zeros_like(e[2])).index
                            for e in params]
        grads = [Tracer(builder, i) for i in self.grad_inputs]
        new_params, self.opt_state, new_opt = _optimiser(builder, params, grads, kind, hyper)
        self.new_params, self.new_opt = [p.index for p in new_params], [s.index for s in new_opt]


def _vjp_specs(traced: _Traced, wrt_entries, diff_outs) -> list:
    """forward and backward (vjp style): the pipeline's derive -> split of the traced outputs."""
    from symgrad.compiler.pipeline import function_spec, vjp_graphs

    builder = traced.builder
    entries = traced.params + traced.state + traced.inputs
    recorded = _recorded(builder, [e[1] for e in entries], traced.outputs, traced.name)
    wrt = [e[1] for e in wrt_entries] if diff_outs else []  # no float output: no gradient either
    _, forward, backward, _ = vjp_graphs(recorded, wrt, diff_outs, [f"grad_output{k}" for k in range(len(diff_outs))],
                                         values=builder.values)
    return [function_spec("forward", forward, "forward pass: (*params, *state, *inputs) -> (*outputs, *saved values)",
                          param_names=tuple(e[0] for e in entries)),
            function_spec("backward", backward, "backward pass: (*saved values, *output gradients) -> gradients of "
                          "the parameters, then of the float inputs")]


def _loss_and_grads(traced: _Traced, step: _Step) -> Graph:
    """(loss, *parameter gradients, *new buffers) of (*params, *state, *inputs, *loss inputs): the
    recorded loss and buffer updates, their gradients appended by derive (Graph -> Graph)."""
    from symgrad.compiler.derive import gradient_graph

    builder = traced.builder
    inputs = [e[1] for e in traced.params + traced.state + traced.inputs + traced.extra]
    recorded = _recorded(builder, inputs, [step.loss] + step.buffer_updates, traced.name + "_loss_and_grads")
    whole = gradient_graph(recorded, [e[1] for e in traced.params], values=builder.values)
    loss, buffers, grads = whole.outputs[0], whole.outputs[1:1 + len(step.buffer_updates)], \
        whole.outputs[1 + len(step.buffer_updates):]
    return dataclasses.replace(whole, outputs=(loss, *grads, *buffers))


def _apply_update(traced: _Traced, step: _Step) -> Graph:
    """(*new params, *new optimiser state) of (*params, *gradients, *optimiser state)."""
    inputs = [e[1] for e in traced.params] + step.grad_inputs + [e[1] for e in step.opt_state]
    return dead_code_eliminated(_recorded(traced.builder, inputs, step.new_params + step.new_opt,
                                          traced.name + "_apply_update"))


def _train_specs(traced: _Traced, step: _Step) -> list:
    """train_step: loss_and_grads chained into apply_update, one graph (fusion makes each parameter's
    update one expression, C: one loop)."""
    from symgrad.compiler.pipeline import function_spec

    grads, update = _loss_and_grads(traced, step), _apply_update(traced, step)
    n_params, n_buffers = len(traced.params), len(step.buffer_updates)
    n_primal = len(traced.params + traced.state + traced.inputs + traced.extra)
    feeds = dict(zip(update.inputs[:n_params], grads.inputs[:n_params]))  # the parameters
    feeds.update(zip(update.inputs[n_params:2 * n_params], grads.outputs[1:1 + n_params]))  # their gradients
    n_opt = len(step.opt_state)
    feeds.update(zip(update.inputs[2 * n_params + n_opt:], grads.inputs[n_primal:]))  # the constants
    chained = _chained(grads, update, feeds, n_primal, traced.name + "_train_step")
    loss, buffers = chained.outputs[0], chained.outputs[1 + n_params:1 + n_params + n_buffers]
    new = chained.outputs[1 + n_params + n_buffers:]
    graph = dead_code_eliminated(dataclasses.replace(
        chained, outputs=(loss, *new[:n_params], *buffers, *new[n_params:])))
    names = [e[0] for e in traced.params + traced.state + traced.inputs + traced.extra + step.opt_state]
    return [function_spec(
        "train_step", graph, f"one {step.kind} step: (*params, *state, *inputs, *optimiser state) -> "
        "(loss, *new params, *new state, *new optimiser state)", param_names=tuple(names))]


def _distributed_specs(traced: _Traced, step: _Step) -> list:
    """loss_and_grads and apply_update: train_step with the gradients leaving and re-entering."""
    from symgrad.compiler.pipeline import function_spec

    params = traced.params
    names = [e[0] for e in params + traced.state + traced.inputs + traced.extra]
    update_names = [e[0] for e in params] + [f"{e[0]}_grad" for e in params] + [e[0] for e in step.opt_state]
    return [function_spec("loss_and_grads", _loss_and_grads(traced, step),
                          "(*params, *state, *inputs) -> (loss, *parameter gradients, *new state)",
                          param_names=tuple(names)),
            function_spec("apply_update", _apply_update(traced, step),
                          "(*params, *averaged gradients, *optimiser state) -> (*new params, *new optimiser state)",
                          param_names=tuple(update_names))]


def _hyperparameters(train, lr, momentum, dampening, weight_decay, nesterov, betas, eps) -> dict:
    default_lr = 0.01 if train == "sgd" else 1e-3
    return dict(lr=default_lr if lr is None else lr, momentum=momentum, dampening=dampening,
                weight_decay=weight_decay, nesterov=nesterov, betas=tuple(betas), eps=eps)


def build(target, specs, *, module_factory: bool, backend="numpy", train=None, loss=None, lr=None,
          momentum=0.0, weight_decay=0.0, nesterov=False, dampening=0.0, betas=(0.9, 0.999), eps=1e-8,
          mode=None, seed=0, command="", n_params=1, out_name="", distributed=False) -> dict:
    """{file name: bytes} of the package (see the module docstring); nothing is written.

    `distributed` (with `train`): train_step averages gradients over MPI ranks (see the module docstring)."""
    from symgrad.compiler.pipeline import emit_source, has_kernels, source_header

    if train is not None and train not in OPTIMISERS:
        raise ValueError(f"train={train!r} is not one of {OPTIMISERS}")
    if distributed and not train:
        raise ValueError("distributed=True needs train='sgd' or 'adam' (it averages the training gradients)")
    mode = mode or ("train" if train else "eval")
    if module_factory:
        traced = _trace_module(target, specs, mode, seed, loss if train else None)
    else:
        traced = _trace_function(target, specs, seed, n_params if train else 0)
    builder = traced.builder
    params, state, inputs = traced.params, traced.state, traced.inputs
    wrt_entries = [e for e in params + inputs if e[2].dtype.kind == "f"]
    diff_outs = [k for k, i in enumerate(traced.outputs) if builder.nodes[i].dtype.startswith("float")]
    step = _Step(traced, train, loss, _hyperparameters(train, lr, momentum, dampening, weight_decay, nesterov,
                                                       betas, eps)) if train else None
    functions = _vjp_specs(traced, wrt_entries, diff_outs)
    if step is not None:
        functions += (_distributed_specs if distributed else _train_specs)(traced, step)
    opt_state = step.opt_state if step is not None else []

    all_inputs = [e[1] for e in params + state + inputs]
    header = source_header(traced.source_fn, "ahead-of-time package", _recorded(builder, all_inputs, [], "x"))
    header[0] = f"ahead-of-time compiled {traced.name} ({_where(traced.source_fn)})"
    python, c_source = emit_source(functions, header, backend, library=LIBRARY)
    files = {"model.py": python.encode()}
    if c_source is not None and has_kernels(python):
        files["kernels.c"] = c_source.encode()
    consts = [np.asarray(builder.values[i]) for i in builder.const_inputs]
    arrays = {f"param/{e[0]}": e[2] for e in params}
    arrays.update({f"state/{e[0]}": e[2] for e in state})
    arrays.update({f"optimizer/{e[0]}": e[2] for e in opt_state})
    arrays.update({f"const/{k}": c for k, c in enumerate(consts)})
    if arrays:
        files["params.npz"] = _npz(arrays)
    diff_out_ids = [traced.outputs[k] for k in diff_outs]
    files["__init__.py"] = _init_source(traced, params, state, inputs, opt_state, len(consts), diff_out_ids,
                                        wrt_entries, train, module_factory, distributed).encode()
    files["README.md"] = _readme(traced, params, state, inputs, opt_state, train, command, backend,
                                 "kernels.c" in files, module_factory, out_name, distributed).encode()
    return files


def _where(fn) -> str:
    import inspect

    try:
        return f"{Path(inspect.getsourcefile(fn)).name}:{inspect.getsourcelines(fn)[1]}"
    except (OSError, TypeError):
        return "<source unavailable>"


def write(files: dict, out_dir, backend="numpy") -> list[Path]:
    """Write the package; with the C backend also build kernels.so from kernels.c (portable flags).

    A file an earlier compile into the same folder wrote and this one does not (a `kernels.so` of the
    C backend, `params.npz` of a Module) is removed, so the folder holds exactly this package.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in PACKAGE_FILES - set(files) - ({LIBRARY} if "kernels.c" in files else set()):
        (out / stale).unlink(missing_ok=True)
    written = []
    for name, data in sorted(files.items()):
        path = out / name
        path.write_bytes(data)
        written.append(path)
    if "kernels.c" in files:
        from symgrad.codegen.c_backend import compile_library

        library = compile_library(files["kernels.c"].decode(), out / ".failed", portable=True)
        (out / LIBRARY).write_bytes(library)
        written.append(out / LIBRARY)
    return written


PACKAGE_FILES = {"__init__.py", "model.py", "params.npz", "kernels.c", LIBRARY, "README.md"}


def _npz(arrays: dict) -> bytes:
    """A .npz archive with fixed timestamps and order (np.savez stamps the current time)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            data = io.BytesIO()
            # NOTE: not np.ascontiguousarray, which makes a 0-d array (Adam's step) 1-d
            np.lib.format.write_array(data, np.asarray(arrays[name], order="C"), allow_pickle=False)
            archive.writestr(info, data.getvalue())
    return buffer.getvalue()


def _init_source(traced, params, state, inputs, opt_state, n_consts, diff_outs, wrt_entries, train,
                 module_factory, distributed) -> str:
    """The package's __init__.py (templates/aot_init.py.j2; aot_distributed_init.py.j2 for `distributed`)."""
    from symgrad.codegen.templates import render

    def signature(entries):
        return tuple((e[0], e[2].dtype.name, tuple(e[2].shape)) for e in entries)

    return render(
        "aot_init.py.j2", name=traced.name, version=__version__, train=train,
        with_params=bool(module_factory or train),
        params=repr(tuple(e[0] for e in params)), state=repr(tuple(e[0] for e in state)),
        optimizer_state=repr(tuple(e[0] for e in opt_state)), inputs=repr(signature(inputs)),
        train_inputs=repr(signature(inputs) + signature(traced.extra)),
        differentiable_inputs=repr(tuple(e[0] for e in inputs if any(e is w for w in wrt_entries))),
        n_outputs=len(traced.outputs), n_differentiable_outputs=len(diff_outs), n_constants=n_consts,
        distributed=distributed)


def _readme(traced, params, state, inputs, opt_state, train, command, backend, has_c, module_factory,
            out_name="", distributed=False) -> str:
    """The package's README.md (templates/aot_readme.md.j2, with aot_distributed_readme.md.j2)."""
    from symgrad.codegen.c_backend import PORTABLE_FLAGS
    from symgrad.codegen.templates import render

    return render(
        "aot_readme.md.j2", name=traced.name, version=__version__, command=command or "symgrad compile ...",
        has_c=has_c, signature=", ".join(f"`{e[0]}`: {e[2].dtype.name}{list(e[2].shape)}" for e in inputs),
        n_params=len(params), n_state=len(state), package=Path(out_name).name if out_name else "PACKAGE",
        with_params=bool(module_factory or train), call_inputs=", ".join(e[0] for e in inputs),
        train=train, train_inputs=", ".join(e[0] for e in inputs + traced.extra),
        rebuild=f"cc {' '.join(PORTABLE_FLAGS)} -o {LIBRARY} kernels.c -lm", distributed=distributed)
