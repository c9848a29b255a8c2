"""``nas-train``: train one architecture of a problem and print how it went.

Examples::

    nas-train --problem problems.digits:problem --arch random --seed 3
    nas-train --problem problems.breast_cancer:problem --arch "[1, 0, 3, 1, 0, ...]" \\
              --hp learning_rate=0.01 --hp optimizer=rmsprop --epochs 20 --json out.json
    nas-train --problem problems.digits:problem --arch-json out.json --draw arch.png
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nas.cli._base import (
    Command,
    UsageError,
    non_negative_int,
    positive_float,
    positive_int,
    run_command,
)
from nas.evaluate import trial_callbacks
from nas.exceptions import NASError
from nas.problem import Problem, load_problem
from nas.problem._training_settings import describe_training_hyperparameters
from nas.train import Stage, TrainingResult, resolve_hyperparameters, train
from nas.trial import Config


class TrainCommand(Command):
    """Train one architecture of a problem, print its learning curve and objective."""

    name = "nas-train"
    uses_tensorflow = True
    description = (
        "Train one architecture of a problem and print its parameter count, learning "
        "curve and objective.\n\nexample: nas-train --problem problems.digits:problem "
        "--arch random --seed 3"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--problem", required=True, help="the problem as 'module:attribute'")
        architecture = parser.add_mutually_exclusive_group()
        architecture.add_argument(
            "--arch",
            default="random",
            help="'random' (drawn with --seed; the default) or an arch_seq as JSON, '[1,0,3]'",
        )
        architecture.add_argument(
            "--arch-json",
            type=Path,
            metavar="FILE",
            help="a JSON file holding an arch_seq list, or an object with an 'arch_seq' "
            "(such as the output of --json)",
        )
        parser.add_argument(
            "--seed", type=non_negative_int, default=0, help="random seed (default 0)"
        )
        parser.add_argument(
            "--epochs", type=positive_int, help="number of epochs, replacing the problem's"
        )
        parser.add_argument(
            "--hp",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            type=_key_value,
            help="set a hyperparameter (repeatable); the others take the problem's defaults. "
            f"Keys: {describe_training_hyperparameters()}",
        )
        parser.add_argument(
            "--timeout", type=positive_float, metavar="SECONDS", help="stop training after"
        )
        parser.add_argument("--draw", type=Path, metavar="FILE", help="draw the architecture")
        parser.add_argument("--json", type=Path, metavar="FILE", help="write the result as JSON")
        parser.add_argument(
            "--verbose", type=int, choices=(0, 1, 2), default=0, help="Keras fit verbosity"
        )

    def run(self, args: argparse.Namespace) -> int:
        try:
            problem = load_problem(args.problem)
        except NASError as error:
            raise UsageError(f"--problem: {error}") from error
        space = problem.build_space()
        arch_seq = _architecture(args, space)
        overrides = dict(args.hp)
        try:
            hyperparameters = resolve_hyperparameters(problem, overrides, epochs=args.epochs)
        except NASError as error:
            raise UsageError(f"--hp: {error}") from error
        if args.draw is not None:
            print(f"drawing        {space.draw(args.draw, arch_seq)}")
        _print_header(problem, arch_seq, hyperparameters)
        # The problem's own callbacks, as a search's evaluation gets them (trial 0, no
        # search folder).
        callbacks = trial_callbacks(
            problem, Config(0, tuple(arch_seq), hyperparameters, args.seed)
        )
        result = train(
            problem,
            arch_seq,
            overrides,
            epochs=args.epochs,
            seed=args.seed,
            timeout=args.timeout,
            verbose=args.verbose,
            callbacks=callbacks,
        )
        _print_result(problem, result)
        if args.json is not None:
            args.json.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
            print(f"result written {args.json}")
        return 0 if result.ok else 1


def _architecture(args: argparse.Namespace, space: Any) -> list[int]:
    if args.arch_json is not None:
        try:
            data = json.loads(args.arch_json.read_text())
        except (OSError, ValueError) as error:
            raise UsageError(f"--arch-json: cannot read {args.arch_json}: {error}") from error
        arch_seq = data.get("arch_seq") if isinstance(data, dict) else data
        source = f"--arch-json {args.arch_json}"
    elif args.arch == "random":
        return space.sample(np.random.default_rng(args.seed))
    else:
        try:
            arch_seq = json.loads(args.arch)
        except ValueError:
            raise UsageError(
                f"--arch: expected 'random' or a JSON list such as '[1, 0, 3]', got {args.arch!r}"
            ) from None
        source = "--arch"
    try:
        return space.validate_arch(arch_seq)
    except NASError as error:
        raise UsageError(f"{source}: {error}") from error


def _print_header(problem: Problem, arch_seq: list[int], hyperparameters: dict[str, Any]) -> None:
    print(f"problem        {problem.reference} ({problem.description or problem.name})")
    print(f"arch_seq       {json.dumps(arch_seq)}")
    print(f"hyperparams    {' '.join(f'{k}={v}' for k, v in hyperparameters.items())}")
    print("training ...", flush=True)


def _print_result(problem: Problem, result: TrainingResult) -> None:
    if result.num_parameters is not None:
        print(f"parameters     {result.num_parameters:,}")
    if result.learning_curve:
        print(_format_curve(result.learning_curve, _best_epoch(problem, result)))
    timings = [("build", result.build_time), ("training", result.training_time)]
    spent = ", ".join(f"{label} {seconds:.1f} s" for label, seconds in timings if seconds)
    print(f"status         {result.status}" + (f" ({spent})" if spent else ""))
    if result.error is not None:
        stage = f"{result.error_stage} stage: " if result.error_stage else ""
        print(f"reason         {stage}{result.error}")
    if result.objective is not None:
        print(
            f"objective      {problem.objective} = {result.objective:.4f} "
            f"(best of {result.epochs_trained} epochs, {problem.direction}imise)"
        )
    for name, value in result.measures.items():
        print(f"{'measured':<15}{name} = {value:.6g}")
    for broken in result.violated:
        print(f"{'infeasible':<15}{broken}")
    if result.error_stage is not Stage.DATA:
        baselines = problem.load_data().baselines
        if baselines:
            print("baselines      " + ", ".join(f"{k} {v:.4f}" for k, v in baselines.items()))


def _best_epoch(problem: Problem, result: TrainingResult) -> int | None:
    values = result.learning_curve.get(problem.objective, [])
    if result.objective is None or result.objective not in values:
        return None
    return values.index(result.objective)


def _format_curve(curve: dict[str, list[float | None]], best_epoch: int | None) -> str:
    """The learning curve as a table, training columns first, the best epoch marked."""
    # The loss first, then the metrics; training columns before validation ones.
    keys = sorted(curve, key=lambda k: (k.startswith("val_"), k.removeprefix("val_") != "loss"))
    widths = [max(len(key), 9) for key in keys]
    lines = ["epoch  " + "  ".join(key.rjust(width) for key, width in zip(keys, widths))]
    for epoch in range(len(curve[keys[0]])):
        cells = [_number(curve[key][epoch]).rjust(width) for key, width in zip(keys, widths)]
        marker = "  <- best" if epoch == best_epoch else ""
        lines.append(f"{epoch + 1:>5}  " + "  ".join(cells) + marker)
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _key_value(text: str) -> tuple[str, Any]:
    key, equals, value = text.partition("=")
    if not equals or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        parsed = json.loads(value)  # numbers and booleans; anything else stays a string
    except ValueError:
        parsed = value
    return key.strip(), parsed


def train_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``nas-train``: run it with ``argv`` and return the exit status."""
    return run_command(TrainCommand(), argv)
