"""Real multi-process jobs (`mpiexec -n 2`): data-parallel training equals one process on the union of
the batches (float64, rel 1e-10), checkpoints resume on another world size, faults end the job.

Skipped, with the reason, when mpi4py or `mpiexec` is missing (`pip install "symgrad[mpi]"`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
JOBS = HERE / "distributed_jobs.py"
TIMEOUT = 60


def _mpiexec():
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


try:
    import mpi4py  # noqa: F401
    _MISSING = None if _mpiexec() else "no mpiexec on PATH"
except ImportError:
    _MISSING = "mpi4py is not installed"

pytestmark = pytest.mark.skipif(_MISSING is not None,
                                reason=f"{_MISSING}: pip install \"symgrad[mpi]\" to run the MPI tests")


def mpi_env() -> dict:
    """Open MPI as root in a container, 2 ranks on few cores, no binding; symgrad from this tree."""
    env = dict(os.environ)
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               PRTE_MCA_rmaps_default_mapping_policy=":oversubscribe", OMPI_MCA_rmaps_base_oversubscribe="1",
               PRTE_MCA_hwloc_default_binding_policy="none", OMPI_MCA_mpi_yield_when_idle="1",
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return env


def launch(job: str, out: Path, ranks: int = 2, timeout: float = TIMEOUT):
    command = [_mpiexec(), "-n", str(ranks), sys.executable, str(JOBS), job, str(out)]
    start = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=mpi_env(), cwd=out)
    return result, time.monotonic() - start


def assert_close(actual: dict, expected: dict):
    assert sorted(actual) == sorted(expected)
    for name in expected:
        np.testing.assert_allclose(actual[name], expected[name], rtol=1e-10, atol=1e-13, err_msg=name)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("mpi-train")
    result, _ = launch("train", out)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


sys.path.insert(0, str(HERE))
import distributed_jobs as jobs  # noqa: E402


@pytest.mark.parametrize("variant, kind", [("eager_sgd", "sgd"), ("eager_adam", "adam"),
                                           ("compiled_model_sgd", "sgd"), ("compiled_loss_adam", "adam")])
def test_two_ranks_equal_one_process_on_the_union_batch(trained, variant, kind):
    assert_close(dict(np.load(trained / f"{variant}.npz")), jobs.reference(kind))


def test_functional_all_reduce_tree_equals_one_process(trained):
    assert_close(dict(np.load(trained / "functional_sgd.npz")), jobs.reference_functional())


def test_checkpoint_from_rank_0_resumes_on_one_rank(trained):
    result, _ = launch("resume", trained, ranks=1)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_close(dict(np.load(trained / "resumed.npz")), jobs.reference("adam", steps=2 * jobs.STEPS))


def test_aot_distributed_packages_equal_one_process(tmp_path):
    base = [sys.executable, "-m", "symgrad", "compile", "distributed_jobs:aot_net", "--input",
            f"x:float64[{jobs.PER_RANK_BATCH},4]", "--input", f"target:float64[{jobs.PER_RANK_BATCH},2]",
            "--loss", "mse", "--distributed"]
    for kind, flags in (("sgd", ["--lr", "0.1", "--momentum", "0.9"]), ("adam", ["--lr", "0.05"])):
        made = subprocess.run(base + ["--train", kind, *flags, "--out", str(tmp_path / f"aot_{kind}")],
                              capture_output=True, text=True, cwd=HERE, env=mpi_env(), timeout=TIMEOUT)
        assert made.returncode == 0, made.stderr
    init = (tmp_path / "aot_sgd" / "__init__.py").read_text()
    assert "import symgrad" not in init
    assert "mpiexec -n 4 python train.py" in (tmp_path / "aot_sgd" / "README.md").read_text()
    result, _ = launch("aot", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    for kind in ("sgd", "adam"):
        expected = {name.replace(".", "_"): value for name, value in jobs.reference(kind).items()}
        assert_close(dict(np.load(tmp_path / f"aot_{kind}_result.npz")), expected)
    failed, seconds = launch("aot_fault", tmp_path)
    assert failed.returncode != 0 and seconds < TIMEOUT
    assert "[rank 1/2] " in failed.stderr and "deliberate failure in the package on rank 1" in failed.stderr


def test_aot_distributed_package_runs_without_mpi(tmp_path):
    """Outside mpiexec the package imports no mpi4py and its train_step is the plain one."""
    made = subprocess.run([sys.executable, "-m", "symgrad", "compile", "distributed_jobs:aot_net", "--input",
                           "x:float64[6,4]", "--input", "target:float64[6,2]", "--loss", "mse", "--train", "sgd",
                           "--lr", "0.1", "--momentum", "0.9", "--distributed", "--out", str(tmp_path / "aot_one")],
                          capture_output=True, text=True, cwd=HERE, env=mpi_env(), timeout=TIMEOUT)
    assert made.returncode == 0, made.stderr
    x, y = jobs.data()
    steps = jobs.union_batches(2)
    np.savez(tmp_path / "steps.npz", **{f"x{k}": x[idx] for k, idx in enumerate(steps)},
             **{f"y{k}": y[idx] for k, idx in enumerate(steps)})
    script = ("import sys, numpy as np; sys.path.insert(0, sys.argv[1]); import aot_one as m\n"
              "data = np.load(sys.argv[1] + '/steps.npz'); params, state = m.load_params(), m.load_state()\n"
              f"for k in range({len(steps)}): _, params, state = m.train_step(params, state, data[f'x{{k}}'], "
              "data[f'y{k}'])\n"
              "assert 'mpi4py' not in sys.modules and 'symgrad' not in sys.modules, 'imported mpi4py/symgrad'\n"
              "np.savez(sys.argv[1] + '/one.npz', **params)")
    env = {k: v for k, v in mpi_env().items() if k != "PYTHONPATH"}
    ran = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
                         env=env, timeout=TIMEOUT, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    expected = {name.replace(".", "_"): value for name, value in jobs.reference("sgd").items()}
    assert_close(dict(np.load(tmp_path / "one.npz")), expected)


def test_unused_parameters_and_no_sync(tmp_path):
    result, _ = launch("hooks", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    expected = jobs.two_heads_grads(0)
    for rank in (0, 1):  # every rank ends with the same averaged gradients
        saved = dict(np.load(tmp_path / f"hooks_{rank}.npz"))
        for variant in ("unused", "no_sync"):
            got = {k.split("/", 1)[1]: v for k, v in saved.items() if k.startswith(variant + "/")}
            assert_close(got, expected[variant])


@pytest.mark.parametrize("job, expected", [
    ("fault", ["[rank 1/2]", "RuntimeError: deliberate failure on rank 1", "MPI_Abort"]),
    ("mismatched_model", ["the model on rank 1 differs from rank 0's",
                          "parameter 'fc1.weight' float64[8, 4] where rank 1 has parameter 'fc1.weight' "
                          "float64[5, 4]"]),
    ("unfinished_reduction", ["Expected to have finished reduction in the prior iteration",
                              "find_unused_parameters=True", "did not receive a gradient: b.weight, b.bias"]),
    ("mismatched_collective", ["mismatched collectives across ranks",
                               "rank 0: all_reduce(op=sum) of float64[3]; rank 1: all_reduce(op=sum) of float64[4]",
                               "distributed_jobs.py:"]),
])
def test_faults_end_every_rank_with_the_error(tmp_path, job, expected):
    result, seconds = launch(job, tmp_path)
    assert result.returncode != 0
    for text in expected:
        assert text in result.stderr, result.stderr
    assert seconds < TIMEOUT


def test_example_trains_on_two_ranks_and_resumes_on_one(tmp_path):
    example = ROOT / "examples" / "data_parallel.py"
    checkpoint = str(tmp_path / "ckpt.npz")
    command = [_mpiexec(), "-n", "2", sys.executable, str(example), "--epochs", "2", "--checkpoint", checkpoint]
    two = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, env=mpi_env(), cwd=tmp_path)
    assert two.returncode == 0, two.stderr
    assert "mean loss over 2 rank(s)" in two.stdout
    one = subprocess.run([sys.executable, str(example), "--epochs", "1", "--resume", "--checkpoint", checkpoint],
                         capture_output=True, text=True, timeout=TIMEOUT, env=mpi_env(), cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    assert "epoch   3  mean loss over 1 rank(s)" in one.stdout
