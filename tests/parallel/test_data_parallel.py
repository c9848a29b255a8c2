"""nas.parallel: choosing a backend, the base class's logic, and both backends on real ranks.

The real-rank checks run ``tests/mpi_scripts/data_parallel_checks.py`` once per backend
(TensorFlow costs seconds per rank to import) and judge the JSON records its ranks wrote.
MPI is never initialised in the pytest process: MPI_Init would outlive the test.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import rank_env, run_ranks

from nas.parallel import BACKENDS, DataParallel, data_parallel, resolve_backend
from nas.parallel._base import _fused

MPI_SCRIPTS = Path(__file__).resolve().parent.parent / "mpi_scripts"

# ------------------------------------------------------------------ choosing a backend


def test_backends_are_horovod_then_mpi() -> None:
    assert BACKENDS == ("horovod", "mpi")


@pytest.mark.parametrize("name", BACKENDS)
def test_named_backend_wins_over_environment(name: str) -> None:
    chosen = resolve_backend(name, environ={"NAS_DATA_PARALLEL": "mpi"}, available=BACKENDS)
    assert chosen == name


@pytest.mark.parametrize("name", BACKENDS)
def test_environment_variable_picks_backend(name: str) -> None:
    assert resolve_backend(environ={"NAS_DATA_PARALLEL": name}, available=BACKENDS) == name


@pytest.mark.parametrize("environ", [{}, {"NAS_DATA_PARALLEL": "  "}])
def test_default_is_first_available(environ: dict[str, str]) -> None:
    assert resolve_backend(environ=environ, available=["horovod", "mpi"]) == "horovod"
    assert resolve_backend(environ=environ, available=["mpi"]) == "mpi"


def test_bad_name_argument_names_value_and_choices() -> None:
    with pytest.raises(ValueError, match=r"'nccl'.*'horovod', 'mpi'"):
        resolve_backend("nccl", environ={}, available=BACKENDS)


def test_bad_environment_variable_names_it() -> None:
    with pytest.raises(ValueError, match=r"'gloo'.*NAS_DATA_PARALLEL.*'horovod', 'mpi'"):
        resolve_backend(environ={"NAS_DATA_PARALLEL": "gloo"}, available=BACKENDS)


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_missing_horovod_says_how_to_install(how: str) -> None:
    kwargs = {"backend": "horovod"} if how == "argument" else {}
    environ = {"NAS_DATA_PARALLEL": "horovod"} if how == "environment" else {}
    with pytest.raises(ImportError, match="scripts/setup.sh"):
        resolve_backend(**kwargs, environ=environ, available=["mpi"])


def test_nothing_installed_says_how_to_install() -> None:
    with pytest.raises(ImportError, match="mpi4py.*scripts/setup.sh"):
        resolve_backend(environ={}, available=[])


def test_data_parallel_rejects_bad_name_before_touching_mpi(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValueError, match="'nccl'"):
        data_parallel(comm=None, backend="nccl")
    monkeypatch.setenv("NAS_DATA_PARALLEL", "Horovod!")
    with pytest.raises(ValueError, match="'Horovod!'.*NAS_DATA_PARALLEL"):
        data_parallel(comm=None)


def test_importing_the_package_loads_no_heavy_module() -> None:
    # A child process: this one may already hold TensorFlow from other tests.
    code = (
        "import json, sys; import nas.parallel as p; available = p.available_backends(); "
        "heavy = ('tensorflow', 'keras', 'horovod', 'mpi4py'); "
        "print(json.dumps({'available': available, "
        "'loaded': [m for m in heavy if m in sys.modules]}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=rank_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["loaded"] == []
    has_mpi4py = importlib.util.find_spec("mpi4py") is not None
    assert ("mpi" in report["available"]) == has_mpi4py
    if importlib.util.find_spec("horovod") is None:
        assert "horovod" not in report["available"]


# ------------------------------------------------------------------- the base class


class FakeGroup(DataParallel):
    """A stand-in group of ``size`` ranks that all hold this rank's values.

    Its primitives compute what a real group of identical ranks would, and count the
    collectives, so the base class's logic is checked without MPI.
    """

    name = "fake"

    def __init__(self, size: int = 3) -> None:
        super().__init__(rank=0, size=size)
        self.calls: list[tuple[str, str, int]] = []
        self.closed = 0

    def _average_in_step(self, tensors: list) -> list:
        self.calls.append(("average", ",".join(t.dtype.name for t in tensors), len(tensors)))
        return [t * 1 for t in tensors]

    def _broadcast_array(self, array: np.ndarray, root: int) -> np.ndarray:
        self.calls.append(("broadcast", array.dtype.name, array.size))
        return array.copy()

    def _sum_array(self, array: np.ndarray) -> np.ndarray:
        self.calls.append(("sum", array.dtype.name, array.size))
        return array * self.size

    def _shutdown(self) -> None:
        self.closed += 1


def test_fused_runs_one_collective_per_dtype_and_restores_shapes() -> None:
    arrays = [
        np.arange(6, dtype="float32").reshape(2, 3),
        np.array([7, 8], dtype="int64"),
        np.float32(2.5).reshape(()),
        np.ones((1, 2, 2), dtype="float32"),
    ]
    seen: list[np.ndarray] = []

    def double(buffer: np.ndarray) -> np.ndarray:
        seen.append(buffer)
        return buffer * 2

    result = _fused(arrays, double)
    assert [(b.dtype.name, b.size) for b in seen] == [("float32", 11), ("int64", 2)]
    for before, after in zip(arrays, result):
        assert after.shape == before.shape and after.dtype == before.dtype
        np.testing.assert_array_equal(after, before * 2)


def test_allreduce_sum_and_any_use_the_sum() -> None:
    group = FakeGroup(size=3)
    total = group.allreduce_sum(np.array([[1.5, 2.0]], dtype="float32"))
    assert total.dtype == np.float32 and total.tolist() == [[4.5, 6.0]]
    assert group.allreduce_sum(np.array([True, False])).tolist() == [3, 0]
    assert group.any(True) is True
    assert group.any(False) is False


def test_distribute_keeps_optimizer_and_averages_in_one_collective() -> None:
    import keras
    import tensorflow as tf

    group = FakeGroup()
    optimizer = keras.optimizers.Adam()
    assert group.distribute(optimizer) is optimizer
    assert type(optimizer) is keras.optimizers.Adam

    variables = [tf.Variable(tf.zeros((2, 3))), tf.Variable(tf.zeros((5, 2)))]
    variables.append(tf.Variable(tf.zeros((3,))))
    sparse = tf.IndexedSlices(tf.ones((1, 2)), tf.constant([3]), tf.constant([5, 2]))
    averaged = group._average_gradients([tf.ones((2, 3)), sparse, None])
    assert group.calls == [("average", "float32,float32", 2)]
    assert averaged[2] is None
    assert isinstance(averaged[1], tf.Tensor)  # IndexedSlices made dense
    np.testing.assert_array_equal(averaged[1].numpy()[3], [1.0, 1.0])

    optimizer.build(variables)
    optimizer.apply([tf.ones((2, 3)), sparse, None], variables)
    assert group.calls[-1] == ("average", "float32,float32", 2)  # the wrapped apply ran


def test_distribute_refuses_twice_and_non_optimizers() -> None:
    import keras

    group = FakeGroup()
    optimizer = group.distribute(keras.optimizers.SGD())
    with pytest.raises(ValueError, match="already distributed"):
        FakeGroup().distribute(optimizer)
    with pytest.raises(TypeError, match="Keras 3 optimizer"):
        group.distribute("adam")


def test_average_metrics_sums_every_state_in_one_collective() -> None:
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", metrics=["accuracy", keras.metrics.AUC()])
    x = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], dtype="float32")
    model.evaluate(x, np.array([[1.0], [0.0], [1.0]]), verbose=0)
    before = [v.numpy().copy() for v in model.metrics_variables]
    group = FakeGroup(size=3)
    group.average_metrics(model)
    assert [c[0] for c in group.calls] == ["sum"]
    for old, new in zip(before, model.metrics_variables):
        np.testing.assert_allclose(new.numpy(), old * 3)


def test_broadcast_root_must_be_in_group() -> None:
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="root must be a rank of the group, 0..2; got 3"):
        FakeGroup(size=3).broadcast_weights(model, root=3)


def test_shutdown_once_then_refuses_work() -> None:
    with FakeGroup() as group:
        assert group.any(True)
    group.shutdown()
    assert group.closed == 1
    with pytest.raises(RuntimeError, match="shut down"):
        group.any(True)


# -------------------------------------------------------------------- real MPI ranks

# The fallback, which must always work, at an odd size and on a group without rank 0;
# Horovod at 2 ranks (its own sub-communicator runs are in tests/test_platform.py).
RUNS = [
    pytest.param(("mpi", 3), marks=pytest.mark.mpi, id="mpi-3ranks"),
    pytest.param(
        ("horovod", 2), marks=[pytest.mark.mpi, pytest.mark.horovod], id="horovod-2ranks"
    ),
]


def _records(out_dir: Path, stage: str) -> dict[int, dict]:
    found = [json.loads(p.read_text()) for p in sorted(out_dir.glob(f"{stage}-*.json"))]
    return {r["world_rank"]: r for r in found}


@pytest.fixture(scope="module", params=RUNS)
def ranks_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The records of one run of the rank script: its backend, size, and stages."""
    backend, size = request.param
    out_dir = tmp_path_factory.mktemp(f"data-parallel-{backend}")
    run_ranks(
        size,
        [sys.executable, MPI_SCRIPTS / "data_parallel_checks.py", out_dir],
        timeout=240,
        env={"NAS_DATA_PARALLEL": backend},
    )
    world = _records(out_dir, "world")
    assert sorted(world) == list(range(size)), world.keys()
    return {"backend": backend, "size": size, "world": world, "group": _records(out_dir, "group")}


def _assert_step_averaged(records: list[dict]) -> None:
    """After one SGD step at learning rate 1, every variable is minus the mean gradient."""
    mean = [np.mean([r["step"]["grads"][i] for r in records], axis=0) for i in range(2)]
    for r in records:
        after = [np.array(a) for a in r["step"]["after"]]
        np.testing.assert_allclose(after[0], -mean[0], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(after[1], -mean[1], rtol=1e-6, atol=1e-7)  # IndexedSlices
        np.testing.assert_array_equal(after[2], np.zeros(3))  # gradient None: untouched
        assert r["step"]["optimizer_class"] == "SGD"


def test_ranks_use_backend_from_environment(ranks_run: dict) -> None:
    for rank, r in ranks_run["world"].items():
        assert (r["name"], r["rank"], r["size"]) == (ranks_run["backend"], rank, ranks_run["size"])


def test_gradient_is_mean_of_ranks_gradients(ranks_run: dict) -> None:
    records = list(ranks_run["world"].values())
    # The ranks' gradients differ, so a step without averaging would fail the check.
    assert len({json.dumps(r["step"]["grads"]) for r in records}) == len(records)
    _assert_step_averaged(records)


def test_broadcast_makes_every_variable_equal_to_root(ranks_run: dict) -> None:
    world = ranks_run["world"]
    root = ranks_run["size"] - 1
    assert len({r["broadcast"]["before"] for r in world.values()}) == len(world)
    for r in world.values():
        assert r["broadcast"]["root"] == root
        assert r["broadcast"]["non_trainable"] == 2  # batch norm's moving statistics
        assert r["broadcast"]["after"] == world[root]["broadcast"]["before"]


def test_training_keeps_weights_identical_across_ranks(ranks_run: dict) -> None:
    runs = [r["training"] for r in ranks_run["world"].values()]
    assert len({t["initial"] for t in runs}) == len(runs)  # seeded apart
    assert {t["start"] for t in runs} == {runs[0]["initial"]}  # broadcast from rank 0
    assert len({json.dumps(t["losses"]) for t in runs}) == len(runs)  # different shards
    assert all(t["moved"] for t in runs)
    assert len({t["trained"] for t in runs}) == 1  # bit-identical
    assert len({t["control"] for t in runs}) == len(runs)  # without averaging: apart
    assert {t["optimizer_class"] for t in runs} == {"Adam"}


def test_model_with_distributed_optimizer_saves_and_loads(ranks_run: dict) -> None:
    for r in ranks_run["world"].values():
        assert r["saved"] == {
            "optimizer_class": "Adam",
            "same_predictions": True,
            "same_weights": True,
            "same_iterations": True,
            "loaded_apply_wrapped": False,
        }


def test_average_metrics_gives_full_set_metrics(ranks_run: dict) -> None:
    world = ranks_run["world"]
    names = ("loss", "accuracy", "auc", "r2")
    for r in world.values():
        metrics = r["metrics"]
        for name in names:
            assert metrics["merged"][name] == pytest.approx(metrics["full"][name], rel=1e-5), name
        assert {"auc/true_positives", "r2/sum", "loss/count"} <= set(metrics["state_variables"])
    for name in names:  # the shards alone are off: the check can fail
        assert any(
            r["metrics"]["shard"][name] != pytest.approx(r["metrics"]["full"][name], rel=1e-3)
            for r in world.values()
        ), name


def test_any_and_allreduce_sum(ranks_run: dict) -> None:
    size = ranks_run["size"]
    for r in ranks_run["world"].values():
        assert r["any_one"] is True
        assert r["any_none"] is False
        assert r["sum"] == [[size * (size - 1) / 2, 1.5 * size]]
        assert r["sum_bool"] == [size, 1]


def test_reinitialises_on_a_subgroup(ranks_run: dict) -> None:
    size = ranks_run["size"]
    members = list(range(1, size)) if size > 2 else list(range(size))
    group = ranks_run["group"]
    assert sorted(group) == members
    for position, world_rank in enumerate(members):
        r = group[world_rank]
        assert (r["name"], r["rank"], r["size"]) == (ranks_run["backend"], position, len(members))
        assert r["sum"] == [float(sum(members))]
    _assert_step_averaged(list(group.values()))
