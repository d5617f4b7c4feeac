"""The paper's own numbers, shipped as ``resources/paper_results.csv``.

Source: Zhu, Yang, Deng, Liu, "Fewer is More: A Deep Graph Metric Learning
Perspective Using Fewer Proxies", NeurIPS 2020 (poster tables). Values are in
percent, exactly as published; every DataFrame carries a ``source`` column
``"paper (Zhu et al., NeurIPS 2020)"`` so the paper's numbers are never
confused with numbers this package produced.

Caveat: the poster does not say on which dataset the ablation was run. Its row
8 (NMI 72.4, R@1 85.5) equals the ProxyGML-512 result on Cars196 in the
comparison table (and the poster's training-curve figure is on Cars196), which
suggests Cars196, but the ``dataset`` column of :func:`paper_ablation` says
"not stated" rather than guess.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

__all__ = ["SOURCE", "paper_results", "paper_ablation", "paper_comparison"]

SOURCE = "paper (Zhu et al., NeurIPS 2020)"
_ABLATION_NOTE = "dataset not stated in the poster; row 8 equals ProxyGML-512 on Cars196"


def paper_results() -> pd.DataFrame:
    """The whole CSV in long format (one value per row), as shipped."""
    path = resources.files("proxygml_lite") / "resources" / "paper_results.csv"
    with path.open("r", encoding="utf-8") as fh:
        table = pd.read_csv(fh, comment="#", dtype={"dataset": "string", "dataset_id": "string", "reference": "string"})
    return table


def paper_ablation(as_fraction: bool = False) -> pd.DataFrame:
    """The ablation table (rows 1-8): ``row``, ``S^pos``, ``M``, ``L^p`` (bools), ``NMI``, ``R@1``, ``dataset``, ``source``.

    ``as_fraction=True`` divides the metrics by 100 (the scale of
    :func:`proxygml_lite.evaluation.evaluate`).
    """
    long = paper_results()
    long = long[long["table"] == "ablation"]
    wide = long.pivot(index=["row", "s_pos", "mask", "l_p"], columns="metric", values="value").reset_index()
    wide = wide.rename(columns={"s_pos": "S^pos", "mask": "M", "l_p": "L^p"})
    for col in ("S^pos", "M", "L^p"):
        wide[col] = wide[col].map(lambda v: str(v).strip().lower() == "true")
    wide["row"] = wide["row"].astype(int)
    wide = wide[["row", "S^pos", "M", "L^p", "NMI", "R@1"]].sort_values("row").reset_index(drop=True)
    if as_fraction:
        wide[["NMI", "R@1"]] = wide[["NMI", "R@1"]] / 100.0
    wide["dataset"] = _ABLATION_NOTE
    wide["source"] = SOURCE
    wide.columns.name = None
    return wide


def paper_comparison(wide: bool = False, as_fraction: bool = False) -> pd.DataFrame:
    """The comparison with other methods on CUB-200-2011, Cars196 and Stanford Online Products.

    Long format (default): ``method``, ``embedding_dim``, ``backbone`` (BN =
    BN-Inception, G = GoogLeNet), ``reference`` (citation number in the paper),
    ``dataset``, ``dataset_id`` (this package's name: cub200, cars196,
    online_products), ``metric``, ``value`` (``nan`` where the paper has "-"),
    ``source``. ``wide=True``: one row per method/dimension, columns
    ``(dataset, metric)``.
    """
    long = paper_results()
    long = long[long["table"] == "comparison"]
    long = long[["row", "method", "embedding_dim", "backbone", "reference", "dataset", "dataset_id", "metric", "value"]]
    long = long.astype({"embedding_dim": int}).reset_index(drop=True)
    if as_fraction:
        long["value"] = long["value"] / 100.0
    long["source"] = SOURCE
    if not wide:
        return long.drop(columns="row")
    table = long.pivot(
        index=["row", "method", "embedding_dim", "backbone"], columns=["dataset", "metric"], values="value"
    )
    order = list(dict.fromkeys(zip(long["dataset"], long["metric"])))
    table = table[order].reset_index(level="row", drop=True)
    return table
