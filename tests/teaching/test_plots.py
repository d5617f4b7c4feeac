"""The notebooks' plotting functions and widgets, checked without a browser.

Each plot function is called with arguments and its Figure is inspected: the
number of drawn edges/arrows/bars, the data behind images, the titles.
"""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from matplotlib.quiver import Quiver  # noqa: E402

from proxygml_lite import steps  # noqa: E402
from proxygml_lite.teaching import plots, toy, widgets  # noqa: E402
from proxygml_lite.teaching.notebook import save_figure  # noqa: E402

C, K, N = 4, 2, 2


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def data():
    points, labels = toy.multimodal_circle(num_classes=C, modes_per_class=K, samples_per_mode=5, noise=0.2, seed=0)
    proxies = toy.toy_proxies(num_classes=C, proxies_per_class=N, dim=2, modes_per_class=K, jitter=0.3, seed=0)
    return points, labels, proxies


def _by_gid(ax, gid):
    return [c for c in ax.collections if c.get_gid() == gid]


# --------------------------------------------------------------------------- #
# Notebook 1
# --------------------------------------------------------------------------- #


def test_plot_toy_embedding_draws_every_sample_and_proxy(data):
    points, labels, proxies = data
    fig = plots.plot_toy_embedding(points, labels, proxies=proxies, proxies_per_class=N, num_classes=C, title="toy")
    ax = fig.axes[0]
    assert ax.get_title() == "toy"
    assert len(_by_gid(ax, "samples")[0].get_offsets()) == len(points)
    np.testing.assert_allclose(_by_gid(ax, "proxies")[0].get_offsets(), proxies.numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="C\\*N"):
        plots.plot_toy_embedding(points, labels, proxies=proxies[:3], proxies_per_class=N, num_classes=C)


def test_plot_toy_embedding_in_3d_uses_a_3d_axes():
    points, labels = toy.multimodal_sphere(num_classes=3, modes_per_class=2, samples_per_mode=4)
    fig = plots.plot_toy_embedding(
        points, labels, proxies=toy.toy_proxies(num_classes=3, proxies_per_class=2, dim=3), proxies_per_class=2
    )
    assert fig.axes[0].name == "3d"


def test_plot_methods_compared_has_the_three_comparisons(data):
    points, labels, proxies = data
    means = F.normalize(torch.stack([points[labels == c].mean(0) for c in range(C)]), dim=1)
    batch = [0, 3, 7, 12, 25, 33]
    where = dict(class_proxies=means, proxies=proxies, num_classes=C, proxies_per_class=N, r=0.5)
    fig = plots.plot_methods_compared(points, labels, anchor_index=0, batch_indices=batch, **where)
    assert len(fig.axes) == 3
    assert len(_by_gid(fig.axes[0], "batch")[0].get_offsets()) == len(batch)
    assert len(_by_gid(fig.axes[1], "proxynca_edges")[0].get_segments()) == C
    assert len(_by_gid(fig.axes[2], "subgraph_edges")[0].get_segments()) == steps.subgraph_size(0.5, C, N)
    with pytest.raises(ValueError, match="anchor"):
        plots.plot_methods_compared(points, labels, anchor_index=1, batch_indices=batch, **where)


def test_bipartite_graph_has_one_edge_per_entry_and_fades_unhighlighted(data):
    points, labels, proxies = data
    similarity = steps.similarity_graph(points, proxies)
    rows = [0, 10, 20]
    highlight = torch.zeros(3, C * N, dtype=torch.bool)
    highlight[0, 1] = True
    fig = plots.plot_similarity_bipartite(
        similarity, labels, num_classes=C, proxies_per_class=N, sample_indices=rows, highlight=highlight
    )
    edges = _by_gid(fig.axes[0], "bipartite_edges")[0]
    assert len(edges.get_segments()) == 3 * C * N
    alphas = edges.get_colors()[:, 3]
    assert (alphas == 1.0).sum() == 1 and np.isclose(alphas[1], 1.0)
    # thicker edge for larger |S|
    widths = np.asarray(edges.get_linewidths())
    flat = similarity[rows].abs().flatten().numpy()
    assert widths[flat.argmax()] == widths.max()


def test_heatmap_shows_the_row_sorted_matrix_and_outlines_the_highlight(data):
    points, labels, proxies = data
    perm = torch.randperm(len(points), generator=torch.Generator().manual_seed(0))
    similarity = steps.similarity_graph(points[perm], proxies)
    shuffled = labels[perm]
    mask = similarity > 0.8
    fig = plots.plot_similarity_heatmap(
        similarity, shuffled, num_classes=C, columns_per_class=N, highlight=mask, title="S"
    )
    ax = fig.axes[0]
    order = np.argsort(shuffled.numpy(), kind="stable")
    np.testing.assert_allclose(ax.images[0].get_array(), similarity.numpy()[order], atol=1e-6)
    assert sum(p.get_gid() == "highlight" for p in ax.patches) == int(mask.sum())
    assert ax.get_title() == "S"
    with pytest.raises(ValueError, match="columns"):
        plots.plot_similarity_heatmap(similarity, shuffled, num_classes=C, columns_per_class=N + 1)


def test_similarity_explorer_shapes_follow_its_arguments():
    fig = plots.plot_similarity_explorer(num_classes=3, modes_per_class=3, proxies_per_class=2, samples_per_mode=4)
    assert fig.axes[1].images[0].get_array().shape == (3 * 3 * 4, 3 * 2)
    assert "N=2" in fig.axes[0].get_title()


# --------------------------------------------------------------------------- #
# Notebook 2
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("r", [0.3, 0.5, 1.0])
def test_subgraph_has_k_edges(data, r):
    points, labels, proxies = data
    fig = plots.plot_subgraph(points, labels, proxies=proxies, num_classes=C, proxies_per_class=N, r=r, sample_index=3)
    k = steps.subgraph_size(r, C, N)
    ax = fig.axes[0]
    assert len(_by_gid(ax, "subgraph_edges")[0].get_segments()) == k
    assert len(_by_gid(ax, "proxies_kept")[0].get_offsets()) == k
    assert f"= {k}" in ax.get_title() and f"kept: {N} of N = {N}" in ax.get_title()


def test_subgraph_title_flags_a_missing_own_class_and_k_le_n(data):
    points, labels, _ = data
    random_proxies = toy.toy_proxies(num_classes=C, proxies_per_class=N, dim=2, seed=3)
    similarity = steps.similarity_graph(points, random_proxies)
    without = steps.select_subgraph(similarity, labels, C, N, 3, use_positive_mask=False)
    lost = int(torch.nonzero(steps.positive_mask(labels, C, N).gather(1, without.indices).sum(1) == 0)[0])
    where = dict(proxies=random_proxies, num_classes=C, proxies_per_class=N)
    title = (
        plots.plot_subgraph(points, labels, r=0.3, sample_index=lost, positive_mask=False, **where).axes[0].get_title()
    )
    assert "own class missing" in title and "kept: 0 of" in title
    title = plots.plot_subgraph(points, labels, r=0.2, sample_index=0, **where).axes[0].get_title()
    assert "k ≤ N" in title
    with pytest.raises(ValueError, match="sample_index"):
        plots.plot_subgraph(points, labels, r=0.3, sample_index=len(points), **where)


def test_subgraph_matrices_show_s_pos_the_top_k_and_w(data):
    points, labels, proxies = data
    similarity = steps.similarity_graph(points, proxies)
    fig = plots.plot_subgraph_matrices(similarity, labels, num_classes=C, proxies_per_class=N, k=3)
    heatmaps = [ax for ax in fig.axes if ax.images]
    assert len(heatmaps) == 3
    assert sum(p.get_gid() == "highlight" for p in heatmaps[1].patches) == len(points) * 3
    w = steps.select_subgraph(similarity, labels, C, N, 3).to_dense()
    order = np.argsort(labels.numpy(), kind="stable")
    np.testing.assert_allclose(heatmaps[2].images[0].get_array(), w.numpy()[order], atol=1e-6)
    assert (heatmaps[2].images[0].get_array() != 0).sum(axis=1).max() == 3


def test_own_class_coverage_is_always_full_with_the_positive_mask(data):
    points, labels, _ = data
    similarity = steps.similarity_graph(points, toy.toy_proxies(num_classes=C, proxies_per_class=N, dim=2, seed=3))
    ax = plots.plot_own_class_coverage(similarity, labels, num_classes=C, proxies_per_class=N).axes[0]
    lines = {line.get_gid(): np.asarray(line.get_ydata()) for line in ax.lines if line.get_gid()}
    assert set(lines) == {"without", "with"}
    assert len(lines["with"]) == C * N and np.all(lines["with"] == 1.0)  # k = 1 .. C*N
    assert lines["without"][-1] == 1.0  # k = C*N keeps everything
    assert np.all(np.diff(lines["without"]) >= 0)  # a larger subgraph never loses the own class
    assert lines["without"].min() < 1.0
    own = steps.positive_mask(labels, C, N)
    top2 = steps.select_subgraph(similarity, labels, C, N, 2, use_positive_mask=False).indices
    assert lines["without"][1] == pytest.approx(float((own.gather(1, top2).sum(1) >= 1).float().mean()))


def test_subgraph_explorer_row_bars_mark_the_kept_proxies(data):
    points, labels, _ = data
    fig = plots.plot_subgraph_explorer(
        points, labels, num_classes=C, proxies_per_class=N, r=0.5, sample_index=2, modes_per_class=K
    )
    bars = [p for p in fig.axes[1].patches]
    assert len(bars) == C * N
    assert sum(bar.get_alpha() == 1.0 for bar in bars) == steps.subgraph_size(0.5, C, N)
    assert sum(bool(bar.get_hatch()) for bar in bars) == N  # own class = S^pos


# --------------------------------------------------------------------------- #
# Notebook 3
# --------------------------------------------------------------------------- #


def test_matrix_product_writes_every_cell_and_checks_shapes():
    w = torch.tensor([[0.94, 0.77, 0.0, 0.0, 0.0, 0.17], [0.0, 0.0, 0.17, 0.94, 0.77, 0.0]])
    y_p = F.one_hot(steps.proxy_labels(3, 2), 3).float()
    fig = plots.plot_matrix_product(w, y_p, w @ y_p)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts if t.get_gid() == "cell"]
    assert len(texts) == 12 + 18 + 6
    assert "1.71" in texts
    with pytest.raises(ValueError, match="do not chain"):
        plots.plot_matrix_product(w, y_p, y_p)


def test_votes_bars_are_z_and_absent_classes_are_marked():
    z = torch.tensor([1.2, 0.0, -0.3, 0.5])
    ax = plots.plot_votes(z, label=0, num_classes=4).axes[0]
    np.testing.assert_allclose([bar.get_height() for bar in ax.patches], z.numpy(), atol=1e-6)
    assert sum("absent" in t.get_text() for t in ax.texts) == 1
    assert ax.get_xticklabels()[0].get_text() == "0 = y"


def test_label_propagation_contrast_reports_the_accuracy(data):
    points, labels, proxies = data
    known = torch.zeros(len(labels), dtype=torch.bool)
    known[::5] = True
    scores = toy.label_propagation(points, labels, labelled=known, num_classes=C)
    fig = plots.plot_label_propagation_contrast(
        points,
        labels,
        labelled=known,
        scores=scores,
        proxies=proxies,
        num_classes=C,
        proxies_per_class=N,
        r=0.5,
        sample_index=1,
    )
    reached = scores.abs().amax(1) > 0
    accuracy = ((scores.argmax(1) == labels) & reached)[~known].float().mean().item()
    assert f"{accuracy:.0%} right, {int((~reached & ~known).sum())} not reached" in fig.axes[0].get_title()
    unreached = _by_gid(fig.axes[0], "unreached")[0].get_offsets()
    assert len(unreached) == int((~reached & ~known).sum())
    assert len(_by_gid(fig.axes[0], "labelled")[0].get_offsets()) == int(known.sum())


def test_votes_explorer_plots_the_z_of_the_steps(data):
    points, labels, _ = data
    fig = plots.plot_votes_explorer(
        points, labels, num_classes=C, proxies_per_class=N, r=0.5, sample_index=4, modes_per_class=K, seed=1
    )
    proxies = toy.toy_proxies(num_classes=C, proxies_per_class=N, dim=2, modes_per_class=K, jitter=0.3, seed=1)
    sub = steps.select_subgraph(
        steps.similarity_graph(points[4:5], proxies), labels[4:5], C, N, steps.subgraph_size(0.5, C, N)
    )
    z = steps.reverse_label_propagation(sub, C, N)[0]
    np.testing.assert_allclose([bar.get_height() for bar in fig.axes[1].patches], z.numpy(), atol=1e-6)
    p = steps.mask_softmax(z[None])[0, labels[4]]
    assert f"= {float(p):.2f}" in fig.axes[1].get_title()


# --------------------------------------------------------------------------- #
# Notebook 4
# --------------------------------------------------------------------------- #


def test_softmax_comparison_bars_are_the_two_softmaxes():
    z = torch.tensor([[1.706, 0.0, 0.174], [0.0, 1.113, 0.766]])
    fig = plots.plot_softmax_comparison(z, torch.tensor([0, 1]), sample_indices=[0, 1], num_classes=3)
    assert len(fig.axes) == 2
    for a, ax in enumerate(fig.axes):
        mask = [p.get_height() for p in ax.patches if p.get_gid() == "mask"]
        plain = [p.get_height() for p in ax.patches if p.get_gid() == "plain"]
        np.testing.assert_allclose(mask, steps.mask_softmax(z)[a].numpy(), atol=1e-6)
        np.testing.assert_allclose(plain, torch.softmax(z, 1)[a].numpy(), atol=1e-6)
    assert "mask 0.20" in fig.axes[0].get_title()  # -log 0.822


def test_gradient_field_arrows_are_the_scaled_gradients(data):
    points, labels, proxies = data
    grads = toy.loss_gradients(
        points, labels, proxies=proxies, num_classes=C, proxies_per_class=N, r=0.3, weight_lambda=0.5
    )
    fig = plots.plot_gradient_field(
        points,
        labels,
        proxies=proxies,
        gradients=grads,
        num_classes=C,
        proxies_per_class=N,
        scales={"samples": 2.0, "proxies_s": 3.0},
    )
    quivers = {q.get_gid(): (ax, q) for ax in fig.axes for q in ax.collections if isinstance(q, Quiver)}
    assert set(quivers) == {"samples", "proxies_s", "proxies_p"}
    assert len({id(ax) for ax, _ in quivers.values()}) == 3  # one force per panel: no arrow hides another
    samples, proxies_s, proxies_p = (quivers[g][1] for g in ("samples", "proxies_s", "proxies_p"))
    np.testing.assert_allclose(samples.U, 2.0 * grads.points_s[:, 0].numpy(), atol=1e-6)
    np.testing.assert_allclose(samples.V, 2.0 * grads.points_s[:, 1].numpy(), atol=1e-6)
    np.testing.assert_allclose(proxies_s.U, 3.0 * grads.proxies_s[:, 0].numpy(), atol=1e-6)
    np.testing.assert_allclose(proxies_s.X, F.normalize(proxies, dim=1)[:, 0].numpy(), atol=1e-6)  # at the proxy
    longest = np.hypot(proxies_p.U, proxies_p.V).max()
    assert longest == pytest.approx(0.35, rel=1e-5)  # no scale given: the longest arrow is 0.35
    assert len(proxies_p.U) == C * N and "fixed scale" in quivers["samples"][0].get_title()
    with pytest.raises(ValueError, match="panels"):
        plots.plot_gradient_field(
            points, labels, proxies=proxies, gradients=grads, num_classes=C, proxies_per_class=N, panels=("everything",)
        )


def test_gradient_explorer_title_follows_lambda_and_r(data):
    points, labels, proxies = data
    where = dict(proxies=proxies, num_classes=C, proxies_per_class=N)
    title = plots.plot_gradient_explorer(points, labels, r=0.5, weight_lambda=1.5, **where)._suptitle.get_text()
    assert "λ = 1.5" in title and f"k = {steps.subgraph_size(0.5, C, N)}" in title
    title = plots.plot_gradient_explorer(points, labels, r=0.2, **where)._suptitle.get_text()
    assert "k ≤ N" in title


def test_arrow_scale():
    assert plots.arrow_scale(torch.tensor([[3.0, 4.0], [0.0, 1.0]]), length=0.5) == pytest.approx(0.1)
    assert plots.arrow_scale(torch.zeros(2, 2)) == 1.0


# --------------------------------------------------------------------------- #
# Notebook 5
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def histories():
    inputs, labels = toy.multimodal_blobs(num_classes=3, modes_per_class=2, samples_per_mode=10, seed=0)
    runs = {
        "N=2": toy.train_toy_embedding(
            inputs,
            labels,
            num_classes=3,
            proxies_per_class=2,
            r=0.5,
            recipe=toy.ToyRecipe(num_steps=12, num_snapshots=4, eval_every=4),
            eval_inputs=inputs,
            eval_labels=labels,
        ),
        "nca": toy.train_toy_embedding(
            inputs, labels, num_classes=3, loss="proxynca", recipe=toy.ToyRecipe(num_steps=12, num_snapshots=4)
        ),
    }
    return runs, labels


def test_training_snapshots_and_single_snapshot(histories):
    runs, labels = histories
    fig = plots.plot_training_snapshots(runs["N=2"], labels, num_panels=3)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["step 0", "step 8", "step 12"]
    ax = plots.plot_training_snapshot(runs["N=2"], labels, snapshot_index=1).axes[0]
    assert ax.get_title() == "ProxyGML N=2: step 4"
    np.testing.assert_allclose(_by_gid(ax, "proxies")[0].get_offsets(), runs["N=2"].snapshots[1].proxies)
    with pytest.raises(ValueError, match="snapshot_index"):
        plots.plot_training_snapshot(runs["N=2"], labels, snapshot_index=9)


def test_proxy_trajectories_one_line_per_proxy(histories):
    runs, labels = histories
    ax = plots.plot_proxy_trajectories(runs["N=2"], labels).axes[0]
    lines = [line for line in ax.lines if line.get_gid() == "trajectory"]
    assert len(lines) == 6 and all(len(line.get_xdata()) == 4 for line in lines)
    end = np.stack([[line.get_xdata()[-1], line.get_ydata()[-1]] for line in lines])
    np.testing.assert_allclose(end, runs["N=2"].snapshots[-1].proxies, atol=1e-5)  # ends on the unit circle


def test_training_curves_and_recall_comparison(histories):
    runs, _ = histories
    fig = plots.plot_training_curves(runs, smooth=3)
    assert len([line for line in fig.axes[0].lines if line.get_gid() == "loss"]) == 2
    assert len([line for line in fig.axes[1].lines if line.get_gid() == "recall"]) == 1  # nca had no eval set
    fig = plots.plot_recall_comparison({"a": [0.5, 0.7], "b": [0.9]})
    ax = fig.axes[0]
    np.testing.assert_allclose([p.get_height() for p in ax.patches if p.get_gid() == "means"], [0.6, 0.9])
    assert [t.get_text() for t in ax.texts if t.get_gid() == "mean_label"] == ["0.600", "0.900"]
    with pytest.raises(ValueError, match="empty"):
        plots.plot_recall_comparison({})


def test_input_points_need_two_columns():
    inputs, labels = toy.multimodal_blobs(num_classes=2, modes_per_class=2, samples_per_mode=5)
    assert len(plots.plot_input_points(inputs, labels).axes[0].collections[0].get_offsets()) == 20
    with pytest.raises(ValueError, match="shape"):
        plots.plot_input_points(inputs[:, :1], labels)


# --------------------------------------------------------------------------- #
# Widgets
# --------------------------------------------------------------------------- #


def test_similarity_widget_redraws_on_change():
    w = widgets.similarity_widget(num_classes=3)
    assert w.renders == 1 and "K=3" in w.figure.axes[0].get_title() and "N=3" in w.figure.axes[0].get_title()
    w.controls["proxies_per_class"].value = 2
    assert w.renders == 2 and "N=2" in w.figure.axes[0].get_title()
    assert w.figure.axes[1].images[0].get_array().shape[1] == 6


def test_subgraph_widget_follows_r_n_and_the_sample(data):
    points, labels, _ = data
    w = widgets.subgraph_widget(points, labels, num_classes=C, modes_per_class=K)
    w.controls["r"].value = 0.5
    ax = w.figure.axes[0]
    assert len(_by_gid(ax, "subgraph_edges")[0].get_segments()) == steps.subgraph_size(0.5, C, N)
    w.controls["proxies_per_class"].value = 3
    assert len(_by_gid(w.figure.axes[0], "subgraph_edges")[0].get_segments()) == steps.subgraph_size(0.5, C, 3)
    w.controls["sample_index"].value = 7
    assert w.figure.axes[0].get_title().startswith("sample 7")
    w.controls["positive_mask"].value = False
    assert "without" in w.figure.axes[0].get_title()
    assert w.renders == 5
    assert w.values()["r"] == pytest.approx(0.5)


def test_votes_widget_updates(data):
    points, labels, _ = data
    w = widgets.votes_widget(points, labels, num_classes=C, modes_per_class=K)
    w.controls["proxies_per_class"].value = 1
    assert len(w.figure.axes[1].patches) == C and "N = 1" in w.figure.axes[0].get_title()


def test_gradient_widget_keeps_its_arrow_scale_while_lambda_moves(data):
    points, labels, proxies = data
    w = widgets.gradient_widget(points, labels, proxies=proxies, num_classes=C, proxies_per_class=N, weight_lambda=0.3)

    def quiver(gid):
        return next(q for ax in w.figure.axes for q in ax.collections if isinstance(q, Quiver) and q.get_gid() == gid)

    first_p, first_s = quiver("proxies_p"), quiver("proxies_s")
    w.controls["weight_lambda"].value = 0.6
    np.testing.assert_allclose(quiver("proxies_p").U, 2 * first_p.U, atol=1e-6)  # same scale: twice lambda, twice
    np.testing.assert_allclose(quiver("proxies_s").U, first_s.U, atol=1e-6)  # lambda leaves L^s alone
    assert "λ = 0.6" in w.figure._suptitle.get_text()
    w.controls["mask_softmax"].value = False
    assert "M off" in w.figure._suptitle.get_text()


def test_training_widget_switches_runs_and_snapshots(histories):
    runs, labels = histories
    w = widgets.training_widget(runs, labels)
    assert w.figure.axes[0].get_title() == "ProxyGML N=2: step 12"
    w.controls["snapshot_index"].value = 0
    assert w.figure.axes[0].get_title() == "ProxyGML N=2: step 0"
    w.controls["run"].value = "nca"
    assert w.figure.axes[0].get_title() == "proxynca: step 0"
    with pytest.raises(ValueError, match="empty"):
        widgets.training_widget({}, labels)


def test_a_failing_redraw_raises_instead_of_failing_silently(data):
    points, labels, _ = data
    w = widgets.subgraph_widget(points, labels, num_classes=C, modes_per_class=K)
    w.fixed["points"], w.fixed["labels"] = points[:3], labels[:3]  # the slider still allows larger indices
    with pytest.raises(ValueError, match="sample_index"):
        w.controls["sample_index"].value = 10


def test_class_colours_are_never_the_red_or_blue_of_s():
    from matplotlib.colors import to_rgba

    colours = plots.class_colors(14)
    assert len({tuple(c) for c in colours}) == 14
    for name in ("tab:red", "tab:blue", "tab:gray"):
        assert not any(np.allclose(c, to_rgba(name)) for c in colours)
    assert not any(np.allclose(c[0], c[1]) and np.allclose(c[1], c[2]) for c in colours)  # no grey at all


def _class_coloured_figures(data):
    points, labels, proxies = data
    where = dict(num_classes=C, proxies_per_class=N)
    grads = toy.loss_gradients(points, labels, proxies=proxies, r=0.3, **where)
    inputs, blob_labels = toy.multimodal_blobs(num_classes=3, modes_per_class=2, samples_per_mode=5)
    known = torch.zeros(len(labels), dtype=torch.bool)
    known[::5] = True
    scores = toy.label_propagation(points, labels, labelled=known, num_classes=C)
    return {
        "toy": plots.plot_toy_embedding(points, labels, proxies=proxies, proxies_per_class=N),
        "bipartite": plots.plot_similarity_bipartite(
            steps.similarity_graph(points, proxies), labels, sample_indices=[0, 5], **where
        ),
        "subgraph": plots.plot_subgraph(points, labels, proxies=proxies, r=0.5, sample_index=0, **where),
        "subgraph_explorer": plots.plot_subgraph_explorer(points, labels, r=0.5, sample_index=0, **where),
        "votes": plots.plot_votes(torch.tensor([1.0, 0.0, 0.5, 0.0]), label=0, num_classes=C),
        "contrast": plots.plot_label_propagation_contrast(
            points, labels, labelled=known, scores=scores, proxies=proxies, r=0.5, sample_index=1, **where
        ),
        "gradients": plots.plot_gradient_field(points, labels, proxies=proxies, gradients=grads, **where),
        "inputs": plots.plot_input_points(inputs, blob_labels),
    }


def test_every_class_coloured_figure_has_a_legend_naming_the_classes(data):
    for name, fig in _class_coloured_figures(data).items():
        legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
        texts = [t.get_text() for legend in legends for t in legend.get_texts()]
        assert "class 0" in texts, f"{name}: no class legend"


def test_tick_labels_and_legends_are_at_least_9_points(data):
    figures = _class_coloured_figures(data)
    points, labels, proxies = data
    similarity = steps.similarity_graph(points, proxies)
    figures["matrices"] = plots.plot_subgraph_matrices(similarity, labels, num_classes=C, proxies_per_class=N, k=3)
    figures["coverage"] = plots.plot_own_class_coverage(similarity, labels, num_classes=C, proxies_per_class=N)
    figures["recall"] = plots.plot_recall_comparison({"a": [0.5], "b": [0.7]})
    for name, fig in figures.items():
        fig.canvas.draw()
        for ax in fig.axes:
            for tick in [*ax.get_xticklabels(), *ax.get_yticklabels()]:
                if tick.get_text():
                    assert tick.get_fontsize() >= 9, f"{name}: tick label {tick.get_text()!r} below 9 pt"
        for legend in [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]:
            assert all(t.get_fontsize() >= 9 for t in legend.get_texts()), f"{name}: legend below 9 pt"
        assert fig.get_size_inches()[0] <= 10.5, f"{name}: wider than a notebook shows unscaled"


def test_a_kept_proxy_on_top_of_the_sample_stays_visible(data):
    points, labels, _ = data
    proxies = toy.toy_proxies(num_classes=C, proxies_per_class=N, dim=2, modes_per_class=K, seed=0).clone()
    proxies[labels[0] * N] = points[0]  # an own-class proxy exactly on sample 0: S = 1, an edge of length zero
    ax = plots.plot_subgraph(
        points, labels, proxies=proxies, num_classes=C, proxies_per_class=N, r=0.5, sample_index=0
    ).axes[0]
    rings = _by_gid(ax, "kept_rings")[0]
    np.testing.assert_allclose(rings.get_offsets()[0], points[0].numpy(), atol=1e-6)  # ringed although the edge
    assert rings.get_sizes()[0] > _by_gid(ax, "sample")[0].get_sizes()[0]  # has no length; the ring is bigger
    assert "1.00" in [t.get_text() for t in ax.texts]


def test_proxy_merging_plots_the_mean_of_the_seeds(histories):
    runs, _ = histories
    fig = plots.plot_proxy_merging({"N=2": [runs["N=2"], runs["N=2"]]})
    mean = next(line for line in fig.axes[0].lines if line.get_gid() == "within_mean")
    np.testing.assert_allclose(mean.get_ydata(), runs["N=2"].within_cosine)
    assert len(mean.get_xdata()) == 13  # steps 0..12
    with pytest.raises(ValueError, match="non-empty"):
        plots.plot_proxy_merging({"x": []})


def test_saved_figures_are_small_pngs(tmp_path, data):
    points, labels, proxies = data
    fig = plots.plot_subgraph_explorer(
        points, labels, num_classes=C, proxies_per_class=N, r=0.5, sample_index=0, modes_per_class=K
    )
    save_figure(fig, "02_check", directory=tmp_path)
    saved = tmp_path / "02_check.png"
    assert saved.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and saved.stat().st_size < 200_000
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temporary file left
    assert math.isfinite(saved.stat().st_mtime)
