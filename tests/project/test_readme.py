"""The README's study section is generated from the committed tables, and its generator states only what they show."""

import re
from pathlib import Path

import pandas as pd
import pytest
from _fabricate import load_script

from proxygml_lite import statistics
from proxygml_lite.lab import findings, grid_findings
from proxygml_lite.lab.study_tables import read_study_table

ROOT = Path(__file__).resolve().parents[2]


def _script():
    return load_script("update_readme")


def test_the_readme_study_section_matches_the_committed_tables(capsys):
    assert _script().main(["--check"]) == 0, capsys.readouterr().err


def test_a_stale_section_is_one_line_naming_the_fix(tmp_path, monkeypatch, capsys):
    script = _script()
    stale = tmp_path / "README.md"
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    stale.write_text(text.replace("| 1 | × | × | × |", "| 1 | × | × | × | 99.9 |", 1), encoding="utf-8")
    monkeypatch.setattr(script, "README", stale)
    assert script.main(["--check"]) == 1
    assert capsys.readouterr().err.strip().endswith("run `make readme` (python scripts/update_readme.py)")
    stale.write_text("no markers", encoding="utf-8")
    assert script.main(["--check"]) == 2
    assert "needs one <!-- studies: start --> line" in capsys.readouterr().err


def _toy_table(means: dict, spread: float = 0.002, seeds: int = 5) -> pd.DataFrame:
    rows = []
    for row, mean in means.items():
        for seed in range(seeds):
            rows.append(
                {"row": row, "seed": seed, "R@1": mean + spread * (seed - 2), "NMI": 0.8, "untrained R@1": 0.04}
            )
    return pd.DataFrame(rows)


def test_a_claim_appears_only_where_holm_rejects():
    table = _toy_table({1: 0.70, 2: 0.80, 3: 0.7005})
    comparisons = statistics.compare_cells(table, by=["row"])
    text = findings._comparison_paragraph(comparisons, "rows", "5 seeds")
    assert "row 2 beats row 1" in text and "row 2 beats row 3" in text
    assert "row 3 beats" not in text and "row 1 beats" not in text
    assert "The other 1 pairs cannot be told apart with 5 seeds" in text
    tie = findings._comparison_paragraph(
        statistics.compare_cells(_toy_table({1: 0.7, 2: 0.7001}, spread=0.02), by=["row"]), "rows", "5 seeds"
    )
    assert tie.startswith("Welch's t-test") and "separates no pair with 5 seeds" in tie


def test_a_tiny_spread_is_never_shown_as_zero():
    assert findings.mean_std_text(0.811, 0.0004) == "81.1 ± 0.04"
    assert findings.mean_std_text(0.811, 0.012) == "81.1 ± 1.2"
    assert findings.mean_std_text(0.811, float("nan")) == "81.1"


@pytest.mark.parametrize("kind", ["ablation", "grid"])
def test_every_mean_in_the_generated_tables_is_the_committed_mean(kind):
    table = read_study_table(kind)
    by = ["row"] if kind == "ablation" else ["N", "r"]
    means = table.groupby(by)["R@1"].mean()
    text = findings.ablation_findings(table) if kind == "ablation" else grid_findings.grid_findings(table)
    shown = [float(x) for x in re.findall(r"(\d+\.\d) ± ", text)]
    for mean in means:
        assert round(100 * mean, 1) in shown


def test_the_grid_changes_one_setting_at_a_time():
    summary = read_study_table("grid").groupby(["N", "r"], as_index=False).size()
    n_pairs, r_pairs = grid_findings.one_variable_pairs(summary)
    n_count, r_count = summary["N"].nunique(), summary["r"].nunique()
    assert len(n_pairs) == r_count * n_count * (n_count - 1) // 2
    assert len(r_pairs) == n_count * r_count * (r_count - 1) // 2
    assert all(a[1] == b[1] and a[0] > b[0] for a, b in n_pairs)
    assert all(a[0] == b[0] and a[1] > b[1] for a, b in r_pairs)


def test_a_grid_difference_is_bold_only_where_holm_rejects():
    rows = []
    for n, r, mean in [(1, 0.1, 0.70), (2, 0.1, 0.80), (1, 0.5, 0.70), (2, 0.5, 0.7003)]:
        for seed in range(5):
            rows.append({"N": n, "r": r, "k": 1, "seed": seed, "R@1": mean + 0.002 * (seed - 2), "NMI": 0.8})
    text = grid_findings.grid_findings(pd.DataFrame(rows))
    assert "Holm-corrected across these 4 pairs together" in text
    bold = re.findall(r"\*\*([^*]+)\*\*", text.split("Each setting", 1)[1])
    # N = 2 - N = 1 at r = 0.1, and r = 0.5 - r = 0.1 at N = 2; nothing else differs
    assert [b.split(" (")[0] for b in bold] == ["bold", "+10.0", "-10.0"]
    assert (
        "Changing N alone: the tests separate 1 of its 2 pairs; the larger N wins 1 (N = 2 over N = 1 at r = 0.1) and the smaller N wins 0."
        in text
    )
    assert "the larger r wins 0 and the smaller r wins 1 (r = 0.1 over r = 0.5 at N = 2)" in text
    assert "The highest mean is `N=2, r=0.1`" in text and "it beats every one after the correction" in text
