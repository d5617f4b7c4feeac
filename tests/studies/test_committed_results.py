"""The committed study tables: their shape, and one cell re-run from its `config`: the committed R@1 on the same
machine fingerprint, a value within the cell's seed spread on another machine."""

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import scipy.stats

from proxygml_lite.statistics import new_seed_tolerance, sample_std
from proxygml_lite.studies.efficiency_table import efficiency_cells
from proxygml_lite.train import main
from proxygml_lite.training.fingerprint import UNKNOWN

pytestmark = pytest.mark.slow  # a committed cell retrained: minutes

RESULTS = Path(__file__).resolve().parents[2] / "results" / "glyphs_hard"
ROOT = Path(__file__).resolve().parents[2]


def table(name):
    path = RESULTS / f"{name}.csv"
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make studies` and commit results/")
    return pd.read_csv(path)


def test_ablation_and_grid_have_every_cell_with_three_seeds_and_a_config():
    ablation, grid = table("ablation"), table("grid")
    assert sorted(ablation["row"].unique()) == list(range(1, 9))
    assert (ablation.groupby("row")["seed"].nunique() >= 3).all()
    assert (grid.groupby(["N", "r"])["seed"].nunique() >= 3).all() and grid.groupby(["N", "r"]).ngroups >= 9
    for frame in (ablation, grid):
        assert frame["R@1"].between(0, 1).all() and frame["NMI"].between(0, 1).all()
        configs = [json.loads(text) for text in frame["config"]]
        assert all(c["dataset"] == "glyphs_hard" for c in configs)
        assert [c["seed"] for c in configs] == frame["seed"].tolist()
    assert all(k == math.ceil(r * 100 * n) for n, r, k in grid[["N", "r", "k"]].itertuples(index=False))
    # the ablation switches are the ones in each row's config
    for row, s_pos, mask, l_p, text in ablation[["row", "S^pos", "M", "L^p", "config"]].itertuples(index=False):
        c = json.loads(text)
        assert (c["positive_mask"], c["mask_softmax"], c["weight_lambda"] > 0) == (
            s_pos,
            mask,
            l_p,
        ), row


def test_the_committed_tables_pass_the_checks_of_both_sides():
    """What `make studies` checks before adding rows, and what the notebooks check before averaging, hold for the
    committed tables (whatever preset they were made with: the checks compare rows with rows, not with a preset)."""
    from proxygml_lite.lab import seed_table_checks, study_tables
    from proxygml_lite.studies.tables import read_table_rows

    for study, by in (("ablation", ["row"]), ("grid", ["N", "r"])):
        assert len(read_table_rows(RESULTS / f"{study}.csv", study)) == len(table(study))
        read = study_tables.read_study_table(study, path=RESULTS)
        assert len(study_tables.summarize_seeds(read, by=by, metrics=seed_table_checks.FRACTION_METRICS)) >= 8


def test_efficiency_table_has_the_five_series():
    eff = table("efficiency")
    assert set(eff["series"]) == {
        "ProxyGML N=12 λ=0.3",
        "ProxyGML N=1 λ=0",
        "SoftTriple",
        "ProxyNCA",
        "Proxy-Anchor",
    }
    cells = efficiency_cells(eff)  # either format; a skipped cell has no time, and a reason instead
    assert (cells.loc[cells["measured"], "time_ms"] > 0).all()
    assert cells.loc[~cells["measured"], "skipped"].str.startswith("estimated ").all()
    for name in ("ProxyGML N=1 λ=0", "SoftTriple", "ProxyNCA", "Proxy-Anchor"):
        assert eff.loc[eff["series"] == name, "num_classes"].max() == 11318, name


#: How sure the cross-machine check is that a correct rerun passes: a 99% prediction interval for one more seed.
NEW_SEED_LEVEL = 0.99
#: The smallest tolerance (fractions, R@1 and NMI alike): one point, 24 of the 2,388 test images. A cell whose
#: seeds agree by chance (the N = 1, r = 0.15 cell's R@1 std is 0.04 points) would otherwise fail on rounding
#: alone; the largest cross-machine change of one seed seen so far is 0.46 points (issue 19).
TOLERANCE_FLOOR = 0.01


def rerun_check(cell_seeds: pd.DataFrame, committed: pd.Series, rerun: dict, metric: str) -> tuple[bool, str]:
    """Is the rerun's ``metric`` what the committed table allows? ``(passed, the sentence saying what was checked)``.

    * Same machine fingerprint as the committed row (its ``machine`` column): the very same value (to 1e-9, the
      CSV's decimal round trip; one R@1 hit is 4e-4). The run is deterministic on one processor and software stack,
      so anything else is a bug.
    * Another fingerprint, or the committed row has none (the tables committed so far; "unknown" means "another
      machine"): CPU float rounding differs between processors and 50 epochs amplify it, so the rerun is as good as
      one more seed of the cell. It must lie within the 99% prediction interval of one more seed around the cell's
      mean, ``|rerun - mean| <= max(t_{n-1, 0.995} s sqrt(1 + 1/n), floor)`` (s: the sample std of the cell's
      seeds; k = 11.5 for 3 seeds, 5.0 for 5): a correct run on another machine fails it once in a hundred
      machines, while a broken one (untrained R@1 is 4%) fails it always.
    """
    committed_id = committed.get("machine")
    committed_id = UNKNOWN if committed_id is None or pd.isna(committed_id) else str(committed_id)
    value, n = rerun["metrics"][metric], rerun["test_samples"]
    if committed_id == rerun["machine"]["id"]:
        passed = abs(value - committed[metric]) <= 1e-9  # exact, up to the CSV's decimal round trip
        return passed, (
            f"{metric}: exact check (same machine fingerprint {committed_id}): rerun {value!r} "
            f"({value * n:.0f} of {n}) vs committed {committed[metric]!r} ({committed[metric] * n:.0f} of {n})"
        )
    seeds = cell_seeds[metric].to_numpy(dtype=float)
    mean = float(seeds.mean())
    tolerance = new_seed_tolerance(seeds, level=NEW_SEED_LEVEL, floor=TOLERANCE_FLOOR)
    passed = abs(value - mean) <= tolerance
    return passed, (
        f"{metric}: seed-spread check (committed fingerprint {committed_id}, rerun {rerun['machine']['id']}): "
        f"|rerun {value:.4f} - cell mean {mean:.4f}| = {abs(value - mean):.4f} "
        f"{'<=' if passed else '>'} tolerance {tolerance:.4f} "
        f"(max(99% prediction half-width from {len(seeds)} seeds, sample std {sample_std(seeds):.4f}; floor "
        f"{TOLERANCE_FLOOR})); committed seed {int(committed['seed'])}: {committed[metric]:.4f}"
    )


def _cell_of(rows: pd.DataFrame, cell: pd.Series) -> pd.DataFrame:
    """Every seed of ``cell``'s study cell: the rows whose config differs from its config in the seed only."""
    config = {k: v for k, v in json.loads(cell["config"]).items() if k != "seed"}
    same = [{k: v for k, v in json.loads(text).items() if k != "seed"} == config for text in rows["config"]]
    return rows[same]


def test_a_committed_cell_reruns_from_its_config_to_the_same_recall(tmp_path):
    """The cheapest committed cell, re-run with `train --config`: the same R@1 and NMI on the same machine
    fingerprint, and within the cell's seed spread on another (CPU, 1 thread)."""
    rows = pd.concat([table("grid"), table("ablation")], ignore_index=True)
    cell = rows.loc[rows["elapsed_s"].idxmin()]
    config_file = tmp_path / "cell.json"
    config_file.write_text(cell["config"])
    out = tmp_path / "rerun"
    assert (
        main(
            [
                "--config",
                str(config_file),
                "--out",
                str(out),
                "--data",
                str(ROOT / "data"),
                "--quiet",
            ]
        )
        == 0
    )
    results = json.loads((out / "results.json").read_text())
    seeds = _cell_of(rows, cell)
    assert len(seeds) >= 3, seeds
    for metric in ("R@1", "NMI"):  # the config names its NMI protocol
        passed, said = rerun_check(seeds, cell, results, metric)
        print(said)
        assert passed, said


def _fake_rerun(r1: float, machine: str) -> dict:
    return {"metrics": {"R@1": r1}, "test_samples": 2388, "machine": {"id": machine}}


def test_the_rerun_check_is_exact_on_the_same_fingerprint_and_within_the_seed_spread_elsewhere():
    seeds = pd.DataFrame({"seed": [0, 1, 2], "R@1": [0.76, 0.78, 0.77]})  # mean 0.77, sample std 0.01
    committed = pd.Series({"seed": 0, "R@1": 0.76, "machine": "abc"})
    # the same fingerprint: only the very same number passes
    assert rerun_check(seeds, committed, _fake_rerun(0.76, "abc"), "R@1")[0]
    passed, said = rerun_check(seeds, committed, _fake_rerun(0.7604, "abc"), "R@1")
    assert not passed and "exact check" in said and "0.7604" in said and "0.76 " in said
    # another fingerprint: within 11.46 x 0.01 of the mean, t_{2, 0.995} sqrt(4/3)
    k = scipy.stats.t.ppf(0.995, 2) * math.sqrt(4 / 3)
    assert rerun_check(seeds, committed, _fake_rerun(0.77 + 0.99 * k * 0.01, "xyz"), "R@1")[0]
    passed, said = rerun_check(seeds, committed, _fake_rerun(0.77 - 1.01 * k * 0.01, "xyz"), "R@1")
    assert not passed and "seed-spread check" in said and f"{k * 0.01:.4f}" in said and "0.7700" in said
    # a committed row without a fingerprint (NaN in the gathered table) is another machine
    unknown = pd.Series({"seed": 0, "R@1": 0.76, "machine": float("nan")})
    passed, said = rerun_check(seeds, unknown, _fake_rerun(0.775, "abc"), "R@1")
    assert passed and "committed fingerprint unknown" in said
    assert "seed-spread check" in rerun_check(seeds, committed.drop("machine"), _fake_rerun(0.77, "abc"), "R@1")[1]
    # seeds that agree by chance: the floor of one point
    tight = pd.DataFrame({"seed": [0, 1, 2], "R@1": [0.7700, 0.7701, 0.7699]})
    assert rerun_check(tight, committed, _fake_rerun(0.779, "xyz"), "R@1")[0]
    assert not rerun_check(tight, committed, _fake_rerun(0.781, "xyz"), "R@1")[0]
