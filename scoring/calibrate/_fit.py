"""The sparse fit: L1-regularized logistic regression under a rule budget, then an L2 refit of what it kept.

The L1 strength is chosen by 3-fold cross-validated ROC AUC among strengths that keep at most ``max_rules``
columns (each fold selects its own columns, so the choice is honest); the kept columns are then refitted
with a light L2 penalty so their weights are not shrunk toward zero.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from ._metrics import BoolArray, FloatArray, roc_auc

_REFIT_C = 1.0
_C_GRID = tuple(float(c) for c in np.geomspace(0.002, 5.0, 16))

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


def _logistic(c: float, l1: bool, seed: int) -> LogisticRegression:
    if l1:
        return LogisticRegression(C=c, l1_ratio=1.0, solver="liblinear", max_iter=2000, random_state=seed)
    return LogisticRegression(C=c, l1_ratio=0.0, solver="lbfgs", max_iter=2000)


def _support(x: FloatArray, y: BoolArray, c: float, limit: int, seed: int) -> Columns:
    """Columns an L1 fit at strength ``c`` keeps, at most ``limit`` of them (largest weights first)."""
    fitted = _logistic(c, l1=True, seed=seed).fit(x, y)
    weights = np.abs(fitted.coef_[0])
    kept = np.flatnonzero(weights > 1e-8)
    if len(kept) > limit:
        kept = np.sort(kept[np.argsort(-weights[kept], kind="stable")[:limit]])
    return kept


def _refit(x: FloatArray, y: BoolArray, support: Columns) -> FloatArray:
    weights = np.zeros(x.shape[1])
    if len(support):
        fitted = _logistic(_REFIT_C, l1=False, seed=0).fit(x[:, support], y)
        weights[support] = fitted.coef_[0]
    return weights


def fit_sparse(x: FloatArray, y: BoolArray, max_rules: int, seed: int) -> tuple[FloatArray, float | None]:
    """Weights over the columns of ``x`` with at most ``max_rules`` non-zero, and the chosen L1 strength."""
    if x.shape[1] == 0:
        return np.zeros(0), None
    folds = list(StratifiedKFold(n_splits=3, shuffle=True, random_state=seed).split(x, y))
    best: tuple[float, float] | None = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        too_many = 0
        for c in _C_GRID:
            scores = []
            for fit_index, check_index in folds:
                support = _support(x[fit_index], y[fit_index], c, max_rules, seed)
                weights = _refit(x[fit_index], y[fit_index], support)
                auc = roc_auc(x[check_index] @ weights, y[check_index])
                scores.append(auc if auc is not None else 0.5)
            score = float(np.mean(scores))
            if best is None or score > best[1] + 1e-4:
                best = (c, score)
            # Past the rule budget, more strength only truncates: stop once it no longer helps.
            too_many = too_many + 1 if len(_support(x, y, c, x.shape[1], seed)) > max_rules else 0
            if too_many >= 2:
                break
        assert best is not None
        support = _support(x, y, best[0], max_rules, seed)
        return _refit(x, y, support), best[0]


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
            trial = _logistic(_REFIT_C, l1=False, seed=0).fit(x[:, [*chosen, best]], y)
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
