"""run_views (reload a run, gallery), diagnostics (subgraph votes) and umap_views."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from _fabricate import make_tiny_folder_dataset, tiny_config  # noqa: E402

from proxygml_lite.lab import diagnostics, proxy_spread_views, run_findings, run_views, umap_views  # noqa: E402
from proxygml_lite.training.trainer import train  # noqa: E402


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = make_tiny_folder_dataset(tmp_path_factory.mktemp("tiny"), per_class=4)
    out = tmp_path_factory.mktemp("run") / "run"
    config = tiny_config(str(root), str(out), batch_size=6, epochs=2, warm=0, compute_nmi=False, recall_ks=(1, 2))
    train(config)
    return out


def test_load_run_reproduces_the_final_recall(tiny_run):
    from proxygml_lite.evaluation import recall_at_k

    out = tiny_run
    run = run_views.load_run(out)
    assert run.num_classes == 6 and run.loss_fn.proxies.shape == (12, 8)
    embeddings, labels, dataset = run_views.embed_split(run)
    assert embeddings.shape == (16, 8) and len(dataset) == 16
    assert torch.allclose(embeddings.norm(dim=1), torch.ones(16), atol=1e-5)
    assert recall_at_k(embeddings, labels, ks=(1,))[1] == pytest.approx(run.results["metrics"]["R@1"], abs=1e-6)
    summary = run_views.run_summary(out)
    assert "finished 2 epochs" in summary and "N=2" in summary
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        run_views.load_run(out.parent / "nothing")


def test_gallery_marks_hits_and_misses(tiny_run):
    out = tiny_run
    run = run_views.load_run(out)
    embeddings, labels, dataset = run_views.embed_split(run)
    fig = run_views.plot_retrieval_gallery(dataset, embeddings, labels, query_indices=[0, 5, 9], k=3)
    gids = [ax.get_gid() for ax in fig.axes if ax.get_gid()]
    assert len(gids) == 9
    neighbours = run_views.nearest_neighbours(embeddings, queries=[0, 5, 9], k=3)
    hits = int((labels[neighbours] == labels[[0, 5, 9]].view(-1, 1)).sum())
    assert gids.count("hit") == hits
    assert f"precision@3 of these 3 queries: {hits} of 9 neighbours" in fig._suptitle.get_text()
    # a look-alike pair turns the misses between its two classes orange, and says so in the title
    query, miss = next((q, int(n)) for q, row in zip([0, 5, 9], neighbours) for n in row if labels[n] != labels[q])
    pair = (dataset.classes[int(labels[query])], dataset.classes[int(labels[miss])])
    fig = run_views.plot_retrieval_gallery(
        dataset, embeddings, labels, query_indices=[0, 5, 9], k=3, look_alikes=[pair]
    )
    gids = [ax.get_gid() for ax in fig.axes if ax.get_gid()]
    assert gids.count("hit") == hits and gids.count("look-alike") >= 1
    assert f"{gids.count('look-alike')} of a look-alike class" in fig._suptitle.get_text()
    assert repr(pair[1]) in [ax.get_xlabel() for ax in fig.axes]
    found = run_views.look_alike_queries(embeddings, labels, dataset.classes, [pair], k=3)
    assert query in found and all(labels[q] in (labels[query], labels[miss]) for q in found)
    assert run_views.look_alike_queries(embeddings, labels, dataset.classes, [], k=3) == []
    assert 0 not in neighbours[0].tolist()  # a query is never its own neighbour
    with pytest.raises(ValueError, match="k must be"):
        run_views.nearest_neighbours(embeddings, queries=[0], k=16)
    plt.close("all")


def test_run_beside_table_names_what_differs(tiny_run):
    import json

    import pandas as pd

    out = tiny_run
    config = json.loads((out / "config.json").read_text())
    results = json.loads((out / "results.json").read_text())
    row = {"row": 8, "seed": config["seed"], "R@1": results["metrics"]["R@1"], "config": json.dumps(config)}
    same = pd.DataFrame([{**row, "machine": results["machine"]["id"]}, {**row, "row": 7, "R@1": 0.0}])
    text = run_findings.run_beside_table(out, same, row=8)
    assert "same machine" in text and "identical: the same run" in text and "Setting" not in text
    other = {**config, "N": 3, "epoch_to_test": [1]}
    changed = pd.DataFrame([{**row, "R@1": 0.5, "config": json.dumps(other), "machine": "000000000000"}])
    text = run_findings.run_beside_table(out, changed, row=8)
    assert "Setting `N`: 2 here, 3 in the table." in text and "epoch_to_test" not in text
    assert "machine 000000000000" in text and "identical" not in text and "R@1 50.00 %" in text
    unrecorded = pd.DataFrame([{**row, "R@1": 0.5, "config": json.dumps({**config, "epoch_to_test": [1]})}])
    text = run_findings.run_beside_table(out, unrecorded, row=8)
    assert "only in when the run is evaluated (epoch_to_test)" in text and "does not record the machine" in text
    assert "nothing to compare" in run_findings.run_beside_table(out, same, row=3)


def test_history_findings_read_every_number_from_the_history():
    import pandas as pd

    nan = float("nan")
    history = pd.DataFrame(
        {
            "epoch": [0, 1, 2, 3, 4],
            "loss_s": [nan, 1.5, 0.1, 1.2, 0.2],
            "loss_p": [nan, 0.9, 0.5, 0.3, 0.1],
            "lr_model": [nan, 1e-3, 1e-3, 1e-3, 1e-4],
            "R@1": [0.04, nan, 0.1, nan, 0.6],
            "NMI": [0.5, nan, 0.55, nan, 0.7],
        }
    )
    text = run_findings.history_findings(history, r1_chance=0.005, nmi_chance=0.52)
    assert "1.500 after epoch 1, down to 0.100 at epoch 2, back up to 1.200 at epoch 3, then 0.200" in text
    assert "it rose in 1 of the 3 steps" in text and "$\\mathcal{L}^p$: 0.900 after epoch 1" in text
    assert "it falls at every epoch" in text  # L^p
    assert "drop 10-fold for epoch 4" in text and "1.200 at epoch 3, 0.200 at epoch 4" in text
    assert "4.0% at epoch 0 (untrained), 60.0% after epoch 4; chance" in text and "0.50%" in text
    assert "At the dip of $\\mathcal{L}^s$ (epoch 2), R@1 is 10.0%" in text
    assert "R@1 10.0% after epoch 2, 60.0% after epoch 4 (+50.0 points)" in text
    assert "NMI: 50.0% at epoch 0, 70.0% after epoch 4" in text and "already score 52.0%" in text
    with pytest.raises(ValueError, match="no trained epoch"):
        run_findings.history_findings(history.iloc[:1])


def test_subgraph_statistics_against_a_hand_computed_case():
    # 2 classes, N = 2, r = 0.75 -> k = 3; sample 0 of class 0 sits on its own proxies
    proxies = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    embeddings = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 1])
    stats = diagnostics.subgraph_statistics(embeddings, labels, proxies, proxies_per_class=2, r=0.75)
    # sample 0: own proxies 1 + 1 = 2, third place: proxy 2 (cos 0) -> other vote 0 (class 1 present? Z = 0 -> absent)
    # sample 1: own proxies 1 + (-1) = 0, third: proxy 0 or 1 (cos 0)
    assert stats["own vote"] == pytest.approx(1.0)
    assert stats["cosine between classes"] == pytest.approx(0.0)
    assert stats["proxy cosine within classes"] == pytest.approx((1.0 + -1.0) / 2)
    assert stats["nearest-proxy accuracy"] == pytest.approx(1.0)
    assert stats["L^s plain"] == pytest.approx(
        float(torch.nn.functional.cross_entropy(torch.tensor([[2.0, 0.0], [0.0, 0.0]]), labels))
    )


def _snapshots(epochs=(0, 3), n=3, classes=4, per_class=10, merge=False):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(classes, 6))
    out = []
    for epoch in epochs:
        labels = np.repeat(np.arange(classes), per_class)
        samples = centres[labels] + 0.2 * rng.normal(size=(len(labels), 6))
        proxies = np.repeat(centres, n, axis=0) + (0.0 if merge else 0.8) * rng.normal(size=(classes * n, 6))
        out.append(umap_views.Snapshot(epoch, samples, labels, proxies, n))
    return out


def test_proxy_spread_tells_merged_from_spread_proxies():
    merged = proxy_spread_views.proxy_spread(_snapshots(merge=True)[0])
    spread = proxy_spread_views.proxy_spread(_snapshots(merge=False)[0])
    assert (merged["proxy cosine"] > 0.999).all() and (merged["proxy groups"] == 1).all()
    assert (spread["proxy cosine"] < merged["proxy cosine"]).all() and spread["proxy groups"].max() > 1
    assert set(merged.columns) >= {"class", "sample cosine", "proxies used"}
    one = proxy_spread_views.proxy_spread(umap_views.Snapshot(0, np.eye(4), np.array([0, 0, 1, 1]), np.eye(4)[:2], 1))
    assert one["proxy cosine"].isna().all()


def test_umap_is_fitted_per_epoch_aligned_or_once_for_all_and_drawn_per_epoch():
    snapshots = _snapshots(epochs=(0, 2, 5))
    view = umap_views.fit_umap(snapshots, classes=[0, 1, 2], seed=0, n_neighbors=5, n_epochs=30)
    assert view.epochs == [0, 2, 5] and view.classes == [0, 1, 2] and view.aligned
    assert [len(s) for s in view.samples] == [30, 30, 30] and view.proxies[0].shape == (9, 2)
    again = umap_views.fit_umap(snapshots, classes=[0, 1, 2], seed=0, n_neighbors=5, n_epochs=30)
    assert np.allclose(view.samples[1], again.samples[1])  # seeded
    shared = umap_views.fit_umap(snapshots, classes=[0, 1, 2], seed=0, n_neighbors=5, n_epochs=30, aligned=False)
    assert not shared.aligned and [len(p) for p in shared.proxies] == [9, 9, 9]
    fig = umap_views.plot_umap_snapshot(view, epoch=2, classes=[1], trajectories=True)
    gids = {c.get_gid() for c in fig.axes[0].collections}
    assert {"samples 1", "proxies 1", "others"} <= gids
    samples, proxies = (
        next(c for c in fig.axes[0].collections if c.get_gid() == g) for g in ("samples 1", "proxies 1")
    )
    assert samples.get_zorder() > proxies.get_zorder()  # the dots are drawn over the (outlined) stars
    assert [line.get_gid() for line in fig.axes[0].lines] == ["trajectory 1"] * 3  # one path per proxy
    assert "class 1" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    with pytest.raises(ValueError, match="was not mapped"):
        umap_views.plot_umap_snapshot(view, epoch=1)
    with pytest.raises(ValueError, match="not in the map"):
        umap_views.plot_umap_snapshot(view, epoch=2, classes=[3])
    with pytest.raises(ValueError, match="same N"):
        umap_views.fit_umap([snapshots[0], umap_views.Snapshot(1, np.eye(2), np.array([0, 1]), np.eye(2), 1)])
    plt.close("all")
    assert math.isfinite(view.fit_seconds)


def test_merge_epochs_measured_title_and_the_turn_from_epoch_0():
    runs = {seed: _snapshots(epochs=(0, 1, 3), merge=seed == 1) for seed in (0, 1)}
    spread = proxy_spread_views.spread_over_seeds(runs)
    assert sorted(set(spread["seed"])) == [0, 1] and "proxy cosine to epoch 0" in spread
    assert spread[spread["epoch"] == 0]["proxy cosine to epoch 0"].round(6).eq(1.0).all()
    merged = proxy_spread_views.merge_epochs(spread)
    assert merged.set_index("seed").loc[1, "merged at epoch"] == 0  # the merged seed is above 0.95 from the start
    assert np.isnan(merged.set_index("seed").loc[0, "merged at epoch"])  # the spread one never is
    title = proxy_spread_views.measured_title(spread[spread["seed"] == 1], 3, run="N = 3")
    assert title.startswith("N = 3, epoch 3: proxy cos to epoch 0 ") and "proxies of a class 1.000" in title
    with pytest.raises(ValueError, match="epoch 7 is not in the spread table"):
        proxy_spread_views.measured_title(spread, 7)
    with pytest.raises(ValueError, match="runs is empty"):
        proxy_spread_views.spread_over_seeds({})


def test_snapshots_from_arrays_and_spread_over_epochs(tmp_path):
    snapshots = _snapshots(epochs=(0, 2, 5))
    path = tmp_path / "N3_r0.05_s0.npz"
    np.savez(
        path,
        epochs=np.array([0, 2, 5]),
        N=np.array(3),
        proxies=np.stack([s.proxies for s in snapshots]).astype(np.float16),
        train_embeddings=np.stack([s.embeddings for s in snapshots]).astype(np.float16),
        train_labels=snapshots[0].labels,
    )
    loaded = umap_views.snapshots_from_arrays(np.load(path), epochs=[0, 5])
    assert [s.epoch for s in loaded] == [0, 5] and loaded[1].proxies.dtype == np.float32
    assert np.allclose(loaded[1].proxies, snapshots[2].proxies, atol=1e-2)
    with pytest.raises(ValueError, match="were not saved"):
        umap_views.snapshots_from_arrays(np.load(path), epochs=[3])
    spread = proxy_spread_views.spread_over_epochs(loaded)
    assert list(spread["epoch"]) == [0, 5] and set(spread["N"]) == {3}
    fig = proxy_spread_views.plot_proxy_spread({"N = 3": spread})
    assert {"N = 3 proxies", "N = 3 samples", "threshold"} <= {line.get_gid() for line in fig.axes[0].lines}
    assert fig.axes[0].get_yscale() == "log"  # 1 - cosine: 0.77 and 1.00 are far apart
    view = umap_views.fit_umap(loaded, seed=0, n_neighbors=5, n_epochs=20)
    assert len(umap_views.plot_umap_epochs(view, epochs=[0, 5]).axes) == 2
    plt.close("all")


def test_results_beside_paper_puts_our_metrics_next_to_the_papers(tiny_run):
    out = tiny_run
    table = run_findings.results_beside_paper({"cub200": out, "cars196": None}, label="tiny")
    cub = table[table["dataset"] == "CUB-200-2011"].set_index("metric")
    assert cub.loc["R@1", "paper (Zhu et al., NeurIPS 2020), ProxyGML-512"] == pytest.approx(66.6)
    results = __import__("json").loads((out / "results.json").read_text())
    assert cub.loc["R@1", "tiny"] == pytest.approx(round(100 * results["metrics"]["R@1"], 1))
    assert pd.isna(cub.loc["NMI", "tiny"])  # the tiny run skipped NMI
    assert table[table["dataset"] == "Cars196"]["tiny"].isna().all()
