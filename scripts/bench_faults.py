"""Benchmark: faults survived. Kills of a real search at random instants, and bad inputs.

Two measurements, printed as tables:

* **kills**: for each seed, a real ``nas-search`` (process pool, random search on
  ``problems.breast_cancer:problem``) is killed with SIGKILL — the driver and its worker
  processes at once, as a node failure or the scheduler's kill would — at a random
  instant (uniform over a window), then resumed with ``--resume``; again and again, then
  resumed to the end. Counted: kills survived, evaluations lost (a trial id of the
  budget never finished, or a finished result changed by a later session) and duplicated
  (a trial id finished twice). Both must be 0.
* **bad inputs**: command lines and API calls that are wrong in one way each. A clear
  error is, for a command: a non-zero exit, one line on stderr, no traceback, naming
  the bad value; for a call: a ``ValueError``/``TypeError`` (nas's errors derive from
  them) raised before anything runs, naming the bad value.

Run: ``PYTHONPATH=. .venv/bin/python scripts/bench_faults.py [--seeds 0 1 2] [--kills 4]
[--max-evals 12]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBLEM = "problems.breast_cancer:problem"


# -- kills ----------------------------------------------------------------------------


def finish_records(out: Path) -> list[dict]:
    """The finish records of a journal (complete lines only)."""
    path = out / "journal.jsonl"
    if not path.exists():
        return []
    records = []
    for line in path.read_text().split("\n")[:-1]:  # the last piece may be torn
        record = json.loads(line)
        if record["event"] == "finish":
            records.append(record["trial"])
    return records


def search_command(out: Path, seed: int, max_evals: int, resume: bool) -> list[str]:
    base = [
        sys.executable,
        "-c",
        "from nas.cli import search_main; raise SystemExit(search_main())",
    ]
    if resume:
        return [*base, "--resume", str(out), "--no-progress"]
    return [
        *base,
        "--problem",
        PROBLEM,
        "--search",
        "random",
        "--max-evals",
        str(max_evals),
        "--workers",
        "2",
        "--seed",
        str(seed),
        "--out",
        str(out),
        "--no-progress",
    ]


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}


@dataclass
class KillRun:
    seed: int
    kills: int = 0
    sessions: int = 0
    lost: int = 0
    duplicated: int = 0
    changed: int = 0
    seconds: float = 0.0


def kill_and_resume(seed: int, kills: int, max_evals: int, directory: Path) -> KillRun:
    """Kill a search ``kills`` times at random instants, resume it to the end, check it."""
    rng = random.Random(seed)
    out = directory / f"seed{seed}"
    run = KillRun(seed)
    seen: dict[int, dict] = {}  # trial id -> its result, as first finished
    start = time.monotonic()
    while True:
        resume = (out / "journal.jsonl").exists()
        process = subprocess.Popen(
            search_command(out, seed, max_evals, resume),
            env=environment(),
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        run.sessions += 1
        if run.kills < kills:
            # Random instants: during start-up, between and in the middle of evaluations.
            time.sleep(rng.uniform(2.0, 12.0))
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                run.kills += 1
        process.wait()
        if run.kills >= kills and process.returncode == 0:
            if len({t["config"]["trial_id"] for t in finish_records(out)}) >= max_evals:
                break
        for trial in finish_records(out):
            trial_id = trial["config"]["trial_id"]
            if trial_id in seen and seen[trial_id] != trial["result"]:
                run.changed += 1
            seen.setdefault(trial_id, trial["result"])
    records = finish_records(out)
    ids = [trial["config"]["trial_id"] for trial in records]
    run.duplicated = len(ids) - len(set(ids))
    run.lost = len(set(range(max_evals)) - set(ids)) + run.changed
    run.seconds = time.monotonic() - start
    return run


# -- bad inputs -----------------------------------------------------------------------


@dataclass
class BadInput:
    what: str
    token: str  # the bad value the message must name
    argv: list[str] | None = None  # a command, run in a subprocess
    call: Callable[[], object] | None = None  # or an API call, run here


def cli(*argv: str) -> list[str]:
    tool, *rest = argv
    function = {
        "nas-search": "search_main",
        "nas-train": "train_main",
        "nas-export": "export_main",
        "nas-plot": "plot_main",
    }[tool]
    code = f"from nas.cli import {function}; raise SystemExit({function}())"
    return [sys.executable, "-c", code, *rest]


def bad_inputs(directory: Path) -> list[BadInput]:
    from nas.problem import Float, Int, Problem
    from nas.search import AgEBO, RegularizedEvolution
    from nas.space import ConstantNode, Layer, SearchSpace

    held = directory / "held"
    held.mkdir(exist_ok=True)
    (held / "journal.jsonl").write_text("")
    out = str(directory / "new")

    def cycle() -> object:
        space = SearchSpace({"x": (3,)})
        a = space.add(ConstantNode(Layer("Dense", units=2), name="a"), space.input("x"))
        b = space.add(ConstantNode(Layer("Dense", units=2), name="b"), a)
        return space.connect(b, a)

    def problem(**changes: object) -> object:
        arguments: dict = {
            "name": "p",
            "load_data": lambda: None,
            "space": "spaces.dense_skip:dense_skip_space",
            "loss": "mse",
            "metrics": ["mae"],
            "objective": "val_mae",
            "direction": "min",
        }
        return Problem(**{**arguments, **changes})

    return [
        BadInput(
            "problem module missing",
            "nosuchmodule",
            cli("nas-search", "--problem", "nosuchmodule:problem", "--out", out),
        ),
        BadInput(
            "problem attribute missing",
            "nope",
            cli("nas-search", "--problem", "problems.breast_cancer:nope", "--out", out),
        ),
        BadInput(
            "problem reference with two colons",
            "a:b:c",
            cli("nas-search", "--problem", "a:b:c", "--out", out),
        ),
        BadInput(
            "--max-evals 0",
            "'0'",
            cli("nas-search", "--problem", PROBLEM, "--max-evals", "0", "--out", out),
        ),
        BadInput(
            "--max-evals ten",
            "'ten'",
            cli("nas-search", "--problem", PROBLEM, "--max-evals", "ten", "--out", out),
        ),
        BadInput(
            "unknown --search",
            "nosuch",
            cli("nas-search", "--problem", PROBLEM, "--search", "nosuch", "--out", out),
        ),
        BadInput(
            "--workers -1",
            "'-1'",
            cli("nas-search", "--problem", PROBLEM, "--workers", "-1", "--out", out),
        ),
        BadInput(
            "--timeout -5",
            "'-5'",
            cli("nas-search", "--problem", PROBLEM, "--timeout", "-5", "--out", out),
        ),
        BadInput(
            "--resume of a folder without a search",
            "nothing-here",
            cli("nas-search", "--resume", str(directory / "nothing-here")),
        ),
        BadInput(
            "--out holding a search",
            str(held),
            cli("nas-search", "--problem", PROBLEM, "--out", str(held)),
        ),
        BadInput(
            "grid flag without --search grid",
            "--grid-points",
            cli("nas-search", "--problem", PROBLEM, "--grid-points", "3", "--out", out),
        ),
        BadInput(
            "nas-train arch_seq out of range",
            "999",
            cli("nas-train", "--problem", PROBLEM, "--arch", json.dumps([999] + [0] * 16)),
        ),
        BadInput(
            "nas-train unknown hyperparameter",
            "momentum",
            cli("nas-train", "--problem", PROBLEM, "--hp", "momentum=0.9"),
        ),
        BadInput(
            "nas-export of a folder without a search",
            "nothing-here",
            cli("nas-export", str(directory / "nothing-here")),
        ),
        BadInput(
            "nas-plot of a folder without a search",
            "nothing-here",
            cli("nas-plot", str(directory / "nothing-here")),
        ),
        BadInput("a cycle in a space", "'a'", call=cycle),
        BadInput("a misspelt layer argument", "unitz", call=lambda: Layer("Dense", unitz=3)),
        BadInput("an unknown layer", "Dens", call=lambda: Layer("Dens", units=3)),
        BadInput("Int bounds reversed", "5", call=lambda: Int(5, 1)),
        BadInput("a log range from 0", "0", call=lambda: Float(0.0, 1.0, log=True)),
        BadInput(
            "an objective that is not measured",
            "val_accuracy",
            call=lambda: problem(objective="val_accuracy", direction="max"),
        ),
        BadInput(
            "a width that is not a power of two",
            "3",
            call=lambda: problem(hyperparameters={"num_ranks": Int(1, 3)}),
        ),
        BadInput(
            "population_size 0", "0", call=lambda: RegularizedEvolution([3, 2], population_size=0)
        ),
        BadInput(
            "sample larger than the population",
            "sample_size",
            call=lambda: AgEBO(
                [3, 2], {"learning_rate": Float(1e-3, 1e-1)}, population_size=4, sample_size=8
            ),
        ),
    ]


def try_input(case: BadInput) -> tuple[bool, str]:
    """Whether ``case`` gives a clear error, and the message it gave."""
    if case.argv is not None:
        done = subprocess.run(
            case.argv,
            env=environment(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        message = lines[-1] if lines else ""
        clear = (
            done.returncode != 0
            and len(lines) == 1
            and "Traceback" not in done.stderr
            and case.token in done.stderr
        )
        return clear, message
    try:
        case.call()  # type: ignore[misc]
    except (ValueError, TypeError) as error:
        return case.token in str(error), f"{type(error).__name__}: {error}"
    except Exception as error:  # noqa: BLE001 - any other type is not a clear error
        return False, f"{type(error).__name__}: {error}"
    return False, "no error"


# -- report ---------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--kills", type=int, default=4, help="kills per seed")
    parser.add_argument("--max-evals", type=int, default=12)
    parser.add_argument("--skip-kills", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        if not args.skip_kills:
            print("| seed | kills survived | sessions | evaluations | lost | duplicated | s |")
            print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
            for seed in args.seeds:
                run = kill_and_resume(seed, args.kills, args.max_evals, directory)
                print(
                    f"| {seed} | {run.kills} | {run.sessions} | {args.max_evals} | "
                    f"{run.lost} | {run.duplicated} | {run.seconds:.0f} |",
                    flush=True,
                )
        print()
        cases = bad_inputs(directory)
        results = [(case, *try_input(case)) for case in cases]
        print("| bad input | clear error | message |")
        print("| --- | --- | --- |")
        for case, clear, message in results:
            shown = message.replace("|", "/")[:110]
            print(f"| {case.what} | {'yes' if clear else 'NO'} | {shown} |")
        print(
            f"\n{sum(clear for _, clear, _ in results)} of {len(results)} bad inputs "
            "gave a clear error"
        )


if __name__ == "__main__":
    main()
