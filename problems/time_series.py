"""Forecast a synthetic hourly signal 24 hours ahead from the last 48 hours.

The signal (16 weeks, hourly, seeded) adds a daily cycle with a harmonic, a weekly
cycle, a slow trend and noise, like electricity load or traffic counts. It is split in
time: the first 80% trains, the last 20% validates, and windows are cut inside each
part, so no validation value is ever seen in training. Values are standardised with
the mean and deviation of the training part. The objective is the validation mean
squared error (in standardised units), to minimise.

``Dataset.baselines`` holds the error of three forecasts that learn nothing:
``mean`` (always the training mean), ``persistence`` (the last value of the window,
repeated) and ``seasonal_naive`` (the same hours of the previous day). A model worth
having beats all three.

Example:
    >>> from problems.time_series import problem
    >>> data = problem.load_data()
    >>> data.train[0].shape, data.train[1].shape
    ((2079, 48, 1), (2079, 24))
"""

from __future__ import annotations

import numpy as np

from nas.problem import Categorical, Dataset, Float, Int, Problem

HOURS_PER_DAY = 24
HOURS_PER_WEEK = 7 * HOURS_PER_DAY
NUM_STEPS = 16 * HOURS_PER_WEEK
LOOKBACK = 48
HORIZON = 24
VALID_FRACTION = 0.2
SEED = 365


def load_data() -> Dataset:
    """Windows ``x`` of shape ``(n, LOOKBACK, 1)`` and targets of shape ``(n, HORIZON)``."""
    train_part, valid_part = split_series(generate_signal(NUM_STEPS, SEED), VALID_FRACTION)
    mean, deviation = train_part.mean(), train_part.std()
    x_train, y_train = make_windows((train_part - mean) / deviation, LOOKBACK, HORIZON)
    x_valid, y_valid = make_windows((valid_part - mean) / deviation, LOOKBACK, HORIZON)
    return Dataset(
        train=(x_train, y_train),
        valid=(x_valid, y_valid),
        baselines=forecast_baselines(x_valid, y_valid),
    )


def generate_signal(num_steps: int, seed: int) -> np.ndarray:
    """An hourly signal: daily and weekly cycles, a trend and Gaussian noise."""
    hours = np.arange(num_steps, dtype=np.float64)
    day_phase = 2 * np.pi * hours / HOURS_PER_DAY
    daily = np.sin(day_phase) + 0.4 * np.sin(2 * day_phase + 0.6)
    weekly = 0.7 * np.sin(2 * np.pi * hours / HOURS_PER_WEEK)
    trend = 0.8 * hours / num_steps
    noise = np.random.default_rng(seed).normal(scale=0.25, size=num_steps)
    return daily + weekly + trend + noise


def split_series(series: np.ndarray, valid_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """The series cut in two in time: the first part trains, the rest validates."""
    boundary = int(round(len(series) * (1 - valid_fraction)))
    return series[:boundary], series[boundary:]


def make_windows(series: np.ndarray, lookback: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Every window of ``lookback`` inputs followed by ``horizon`` targets, in order."""
    windows = np.lib.stride_tricks.sliding_window_view(series, lookback + horizon)
    inputs = np.ascontiguousarray(windows[:, :lookback, np.newaxis], dtype=np.float32)
    targets = np.ascontiguousarray(windows[:, lookback:], dtype=np.float32)
    return inputs, targets


def forecast_baselines(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Mean squared errors of the mean, persistence and seasonal naive forecasts.

    ``x`` is standardised with training statistics, so the training mean is 0.
    """
    last_values = x[:, -1, :]
    same_hours_yesterday = x[:, -HOURS_PER_DAY:, 0][:, : y.shape[1]]
    return {
        "mean": float(np.mean(y**2)),
        "persistence": float(np.mean((y - last_values) ** 2)),
        "seasonal_naive": float(np.mean((y - same_hours_yesterday) ** 2)),
    }


problem = Problem(
    "time_series",
    load_data,
    "spaces.recurrent:recurrent_space",
    space_kwargs={
        "input_shape": [LOOKBACK, 1],
        "output_units": HORIZON,
        "num_layers": 2,
        "units": [16, 32],
    },
    hyperparameters={
        "batch_size": Int(16, 128, log=True, default=64),
        "learning_rate": Float(1e-4, 3e-2, log=True, default=3e-3),
        "optimizer": Categorical(["adam", "rmsprop", "adamw"]),
        "epochs": 5,
        "patience": 2,
    },
    loss="mse",
    metrics=["mse", "mae"],
    objective="val_mse",
    direction="min",
    description="Synthetic hourly signal with daily and weekly cycles; 24-hour forecast.",
)
