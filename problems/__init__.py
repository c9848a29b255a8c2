"""Benchmark problems that run offline: their data are bundled or generated here.

Each module defines a ``problem`` (a :class:`nas.problem.Problem`) and its
``load_data()``; load one by import string::

    from nas.problem import load_problem
    problem = load_problem("problems.digits:problem")

- ``breast_cancer``: scikit-learn's Wisconsin breast cancer set, 30 features, 2 classes.
- ``covertype``: synthetic tabular data shaped like Covertype, 54 features, 7 classes,
  120,000 rows.
- ``diabetes``: scikit-learn's diabetes progression, 10 features, one real target
  (regression: a linear output, MAE against predicting the mean); raw features,
  standardised inside the model (``preprocessing=normalize()``).
- ``digits``: scikit-learn's 8x8 handwritten digits, as images, 10 classes.
- ``time_series``: a synthetic hourly signal with daily and weekly seasons, forecast
  24 hours ahead from the last 48.

Problem modules are not imported here, so importing one loads only what it needs.
"""
