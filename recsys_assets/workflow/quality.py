"""The quality gate: a model must meet configured minimums and not fall far below the last good one."""

from __future__ import annotations


def quality_problems(current: dict[str, float], previous: dict[str, float] | None, *,
                     minimums: dict[str, float], max_relative_drop: float) -> list[str]:
    problems = []
    for metric, minimum in sorted(minimums.items()):
        if metric not in current:
            problems.append(f"{metric} is not among the solution version's metrics ({', '.join(sorted(current))})")
        elif current[metric] < minimum:
            problems.append(f"{metric} = {current[metric]:.4f} is below the minimum {minimum:.4f}")
    for metric, before in sorted((previous or {}).items()):
        now = current.get(metric)
        if now is not None and before > 0 and (before - now) / before > max_relative_drop:
            problems.append(f"{metric} fell from {before:.4f} to {now:.4f} ({(before - now) / before:.0%} drop; "
                            f"at most {max_relative_drop:.0%} allowed)")
    return problems
