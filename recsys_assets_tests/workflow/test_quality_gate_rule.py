"""The quality gate's rule (a pure function; the asset check is in test_quality_gate.py)."""

from recsys_assets.workflow.quality import quality_problems


def test_quality_gate():
    good = {"normalized_discounted_cumulative_gain_at_10": 0.20, "precision_at_10": 0.05}
    assert quality_problems(good, None, minimums={}, max_relative_drop=0.2) == []
    below = quality_problems(good, None, minimums={"precision_at_10": 0.1}, max_relative_drop=0.2)
    assert below == ["precision_at_10 = 0.0500 is below the minimum 0.1000"]
    drop = quality_problems({**good, "precision_at_10": 0.03}, good, minimums={}, max_relative_drop=0.2)
    assert drop == ["precision_at_10 fell from 0.0500 to 0.0300 (40% drop; at most 20% allowed)"]
    assert quality_problems({**good, "precision_at_10": 0.045}, good, minimums={}, max_relative_drop=0.2) == []
    unknown = quality_problems(good, None, minimums={"recall_at_10": 0.1}, max_relative_drop=0.2)
    assert "recall_at_10 is not among" in unknown[0]
