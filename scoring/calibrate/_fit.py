"""The sparse fit: forward selection of a logistic regression under a rule budget (``fit_forward``)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from ._metrics import BoolArray, FloatArray

_REFIT_C = 1.0

Columns = np.ndarray[Any, np.dtype[np.intp]]


def distinct_columns(x: FloatArray) -> Columns:
    """Columns that vary and do not repeat (or mirror) an earlier column: duplicates would split a weight."""
    seen: set[bytes] = set()
    kept = []
    for index in range(x.shape[1]):
        column = x[:, index]
        if column.std() == 0 or column.tobytes() in seen or (1 - column).tobytes() in seen:
            continue
        seen.add(column.tobytes())
        kept.append(index)
    return np.asarray(kept, dtype=np.intp)


def _logistic(c: float) -> LogisticRegression:
    return LogisticRegression(C=c, l1_ratio=0.0, solver="lbfgs", max_iter=2000)


def fit_forward(x: FloatArray, y: BoolArray, max_rules: int) -> FloatArray:
    """Weights over the columns of ``x``, at most ``max_rules`` non-zero, chosen one at a time.

    Each step adds the column most correlated with what the current fit gets wrong (the gradient of the
    log-likelihood), then refits the chosen columns with a light L2 penalty.  It stops at the budget or when
    a column no longer pays for itself (the deviance falls by less than 2, the AIC price of a column).
    Unlike an L1 path truncated to the budget, every rule it keeps was chosen with the others in place.
    """
    n, width = x.shape
    weights = np.zeros(width)
    if width == 0 or n == 0:
        return weights
    target = y.astype(np.float64)
    centred = x - x.mean(axis=0)
    chosen: list[int] = []
    predicted = np.full(n, target.mean())
    deviance = _deviance(target, predicted)
    price = 2.0
    fitted: LogisticRegression | None = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        while len(chosen) < min(max_rules, width):
            gradient = np.abs(centred.T @ (target - predicted))
            gradient[chosen] = -1.0
            best = int(np.argmax(gradient))
            if gradient[best] <= 1e-9:
                break
            trial = _logistic(_REFIT_C).fit(x[:, [*chosen, best]], y)
            trial_predicted = trial.predict_proba(x[:, [*chosen, best]])[:, 1]
            trial_deviance = _deviance(target, trial_predicted)
            if deviance - trial_deviance < price:
                break
            chosen.append(best)
            fitted, predicted, deviance = trial, trial_predicted, trial_deviance
    if fitted is not None:
        weights[chosen] = fitted.coef_[0]
    return weights


def _deviance(target: FloatArray, predicted: FloatArray) -> float:
    clipped = np.clip(predicted, 1e-12, 1 - 1e-12)
    return float(-2 * np.sum(target * np.log(clipped) + (1 - target) * np.log(1 - clipped)))
