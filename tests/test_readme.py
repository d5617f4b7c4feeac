"""The README's study section is generated from the committed tables, and its generator states only what they show."""

import re
from pathlib import Path

import pandas as pd
import pytest
from _fabricate import load_script

from proxygml_lite import statistics
from proxygml_lite.lab import findings
from proxygml_lite.lab.study_tables import read_study_table

ROOT = Path(__file__).resolve().parents[1]


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
    text = findings.ablation_findings(table) if kind == "ablation" else findings.grid_findings(table)
    shown = [float(x) for x in re.findall(r"(\d+\.\d) ± ", text)]
    for mean in means:
        assert round(100 * mean, 1) in shown
