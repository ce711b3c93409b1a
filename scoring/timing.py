"""When engagement crosses a rounding boundary by time alone: the search behind ``next_change_at``.

Between two events (a window closing, a future activity arriving, stagnation or inactivity starting, a
date test flipping, a linear decay reaching zero) engagement is

    E(s) = base + sum over decaying rules of clamp(fixed + moving * exp(-rate * s), -cap, cap)
                + sum over linear rules of clamp(fixed + moving + slope * s, -cap, cap)

with ``s`` in seconds after the moment scored.  ``first_crossing`` finds the first whole second at which
``E`` leaves ``[low, high)`` (the interval in which it rounds to the same integer).  With one half-life and
no linear rules (the common case) each stretch between cap releases is ``c + a * exp(-rate * s)``, solved
exactly with a logarithm.  Otherwise it takes safe steps: the distance to the nearest boundary divided by a
bound on ``|E'|`` over the rest of the stretch, so no step jumps past a crossing.  Each answer says whether
it is a near tie (within rounding noise of a boundary) that the engine must confirm by rescoring.
"""

from __future__ import annotations

import math
from typing import Final

Term = tuple[int, float, float, float, float]  # kind (1 exp, 2 linear), fixed, moving, rate or slope, cap

INF: Final = math.inf
_MAX_STEPS: Final = 60


def _clamp(value: float, cap: float) -> float:
    if value > cap:
        return cap
    if value < -cap:
        return -cap
    return value


def value_at(base: float, terms: list[Term], s: float) -> float:
    total = base
    for kind, fixed, moving, rate, cap in terms:
        if kind == 1:
            total += _clamp(fixed + moving * math.exp(-rate * s), cap)
        else:
            total += _clamp(fixed + moving + rate * s, cap)
    return total


def _slope_bound(terms: list[Term], s: float) -> tuple[float, float]:
    """A bound on ``|E'|`` from ``s`` until the returned moment (when a rule held at its cap lets go)."""
    bound = 0.0
    until = INF
    for kind, fixed, moving, rate, cap in terms:
        part = moving * math.exp(-rate * s) if kind == 1 else moving + rate * s
        value = fixed + part
        if cap < INF and (value > cap or value < -cap):
            # held at the cap: flat until the moving part brings it back to the cap
            target = cap if value > 0 else -cap
            if kind == 1:
                ratio = (target - fixed) / moving if moving else 0.0
                release = -math.log(ratio) / rate if 0.0 < ratio < 1.0 else INF
            else:
                release = (target - fixed - moving) / rate if rate else INF
            until = min(until, max(release, s))
        else:
            bound += abs(moving) * rate * math.exp(-rate * s) if kind == 1 else abs(rate)
    return bound, until


def _tight(values: tuple[float, float], low: float, high: float, eps: float) -> bool:
    before, after = values
    return abs(before - low) < eps or abs(before - high) < eps or abs(after - low) < eps or abs(after - high) < eps


def first_crossing(
    base: float, terms: list[Term], low: float, high: float, horizon: float
) -> tuple[float, bool] | None:
    """The first whole second ``1 <= s < horizon`` with ``E(s)`` outside ``[low, high)``, and whether it is a
    near tie; ``None`` when there is none before the horizon."""
    if not terms:
        return None
    magnitude = abs(base) + 1.0
    rate0 = terms[0][3]
    single = True
    for kind, fixed, moving, rate, _ in terms:
        magnitude += abs(fixed) + abs(moving)
        if kind != 1 or fixed != 0.0 or rate != rate0:
            single = False
    eps = 1e-9 * magnitude  # far above the rounding noise of these sums, far below a second's change
    if single:
        return _single_rate(base, terms, rate0, low, high, horizon, eps)
    return _safe_steps(base, terms, low, high, horizon, eps)


def _single_rate(
    base: float, terms: list[Term], rate: float, low: float, high: float, horizon: float, eps: float
) -> tuple[float, bool] | None:
    """Exact search when every decaying rule shares one half-life: ``c + a * exp(-rate * s)`` per stretch."""
    const = base
    amp = 0.0
    held: list[tuple[float, float, float]] = []  # (release time, moving, cap) of rules held at their cap
    for _, _, moving, _, cap in terms:
        if abs(moving) > cap:
            held.append((math.log(abs(moving) / cap) / rate, moving, cap))
            const += cap if moving > 0 else -cap
        else:
            amp += moving
    held.sort()
    start = 0.0
    index = 0
    while True:
        end = held[index][0] if index < len(held) else INF
        if amp != 0.0:
            found = _crossing(const, amp, rate, low, high, max(1.0, math.ceil(start)))
            if found is not None and found < end and found < horizon:
                before = const + amp * math.exp(-rate * (found - 1.0))
                after = const + amp * math.exp(-rate * found)
                return found, _tight((before, after), low, high, eps)
        if end >= horizon:
            return None
        _, moving, cap = held[index]
        const -= cap if moving > 0 else -cap
        amp += moving
        start = end
        index += 1


def _crossing(const: float, amp: float, rate: float, low: float, high: float, first: float) -> float | None:
    """First whole second ``>= first`` at which ``const + amp * exp(-rate * s)`` leaves ``[low, high)``."""
    if amp > 0.0:  # falling toward const: leaves through low when const < low
        if const >= low:
            return None
        ratio = (low - const) / amp
        if ratio >= 1.0:
            return first
        at = -math.log(ratio) / rate
        return max(math.floor(at) + 1.0, first)  # E(s) < low once s > at
    if const < high:  # rising toward const: leaves through high when const >= high
        return None
    ratio = (high - const) / amp
    if ratio >= 1.0:
        return first
    if ratio <= 0.0:
        return None
    at = -math.log(ratio) / rate
    return max(float(math.ceil(at)), first)  # E(s) >= high once s >= at


def _safe_steps(
    base: float, terms: list[Term], low: float, high: float, horizon: float, eps: float
) -> tuple[float, bool] | None:
    tau = 0.0
    current = value_at(base, terms, 0.0)
    for _ in range(_MAX_STEPS):
        bound, until = _slope_bound(terms, tau)
        if bound <= 0.0 and until == INF:
            return None
        gap = max(min(current - low, high - current), 0.0)
        reach = min(tau + gap / bound if bound > 0.0 else INF, until)
        if reach >= horizon:
            return None
        nxt = float(math.floor(reach))
        if nxt <= tau:
            nxt = tau + 1.0
        if nxt >= horizon:
            return None
        later = value_at(base, terms, nxt)
        if later < low or later >= high:
            before = value_at(base, terms, nxt - 1.0) if nxt - 1.0 > tau else current
            return nxt, _tight((before, later), low, high, eps)
        tau, current = nxt, later
    return tau + 1.0, True  # gave up: an early answer, confirmed (or moved on) by the engine
