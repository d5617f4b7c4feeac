"""Toy data, label propagation, gradients and the tiny training loop of the notebooks."""

import math

import pytest
import torch
import torch.nn.functional as F

from proxygml_lite import ProxyGMLLoss, steps
from proxygml_lite.teaching import toy


def test_mode_centres_interleave_the_classes_on_the_circle():
    centres = toy.mode_centres(num_classes=3, modes_per_class=2, dim=2)
    assert centres.shape == (3, 2, 2)
    torch.testing.assert_close(centres.norm(dim=-1), torch.ones(3, 2))
    # the two modes of a class are opposite, neighbouring centres belong to other classes
    torch.testing.assert_close((centres[:, 0] * centres[:, 1]).sum(-1), -torch.ones(3), atol=1e-6, rtol=0)
    angles = torch.rad2deg(torch.atan2(centres[..., 1], centres[..., 0])) % 360
    torch.testing.assert_close(angles[0], torch.tensor([0.0, 180.0]), atol=1e-4, rtol=0)
    torch.testing.assert_close(angles[1], torch.tensor([60.0, 240.0]), atol=1e-4, rtol=0)


def test_mode_centres_on_the_sphere_are_distinct_unit_vectors():
    centres = toy.mode_centres(num_classes=4, modes_per_class=3, dim=3).reshape(-1, 3)
    torch.testing.assert_close(centres.norm(dim=1), torch.ones(12))
    cosine = centres @ centres.T - 2 * torch.eye(12)
    assert cosine.max() < 0.9


@pytest.mark.parametrize("make, dim", [(toy.multimodal_circle, 2), (toy.multimodal_sphere, 3)])
def test_multimodal_points_are_unit_norm_sorted_and_near_their_modes(make, dim):
    points, labels, modes = make(
        num_classes=3, modes_per_class=2, samples_per_mode=5, noise=0.05, seed=1, return_modes=True
    )
    assert points.shape == (30, dim) and points.dtype == torch.float32
    torch.testing.assert_close(points.norm(dim=1), torch.ones(30))
    assert labels.tolist() == sorted(labels.tolist()) and torch.bincount(labels).tolist() == [10, 10, 10]
    assert torch.bincount(modes).tolist() == [15, 15]
    centres = toy.mode_centres(num_classes=3, modes_per_class=2, dim=dim)[labels, modes]
    assert (points * centres).sum(1).min() > math.cos(0.3)  # within a few noise standard deviations


def test_multimodal_circle_is_deterministic_per_seed():
    a, _ = toy.multimodal_circle(seed=3)
    b, _ = toy.multimodal_circle(seed=3)
    c, _ = toy.multimodal_circle(seed=4)
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        (dict(num_classes=0), "num_classes"),
        (dict(modes_per_class=1.5), "modes_per_class"),
        (dict(samples_per_mode=0), "samples_per_mode"),
        (dict(noise=-0.1), "noise"),
    ],
)
def test_multimodal_circle_rejects_bad_arguments_by_name(kwargs, word):
    with pytest.raises(ValueError, match=word):
        toy.multimodal_circle(**kwargs)


def test_bad_dimension_is_rejected():
    with pytest.raises(ValueError, match="dim must be 2"):
        toy.toy_proxies(num_classes=3, proxies_per_class=2, dim=4)


def test_toy_proxies_at_the_modes_follow_the_proxy_layout():
    proxies = toy.toy_proxies(num_classes=3, proxies_per_class=4, dim=2, modes_per_class=2, jitter=0.0)
    assert proxies.shape == (12, 2)
    centres = toy.mode_centres(num_classes=3, modes_per_class=2, dim=2)
    labels = steps.proxy_labels(3, 4)
    for j in range(12):  # proxy n of class c sits on mode n mod K of class c
        torch.testing.assert_close(proxies[j], centres[labels[j], (j % 4) % 2], atol=1e-6, rtol=0)


def test_random_toy_proxies_are_unit_and_seeded():
    a = toy.toy_proxies(num_classes=5, proxies_per_class=3, dim=3, seed=2)
    assert a.shape == (15, 3)
    torch.testing.assert_close(a.norm(dim=1), torch.ones(15))
    assert torch.equal(a, toy.toy_proxies(num_classes=5, proxies_per_class=3, dim=3, seed=2))


def test_multimodal_blobs_put_each_class_on_several_grid_cells():
    inputs, labels, modes = toy.multimodal_blobs(
        num_classes=4, modes_per_class=3, samples_per_mode=20, spread=0.1, seed=0, return_modes=True
    )
    assert inputs.shape == (240, 2) and torch.bincount(labels).tolist() == [60] * 4
    means = torch.stack([inputs[(labels == c) & (modes == m)].mean(0) for c in range(4) for m in range(3)])
    distances = torch.cdist(means, means) + 10 * torch.eye(12)
    assert distances.min() > 1.5  # the 12 blobs sit on distinct cells of a grid with spacing 2


def test_train_test_split_is_stratified_and_disjoint():
    inputs = torch.arange(40.0).view(20, 2)
    labels = torch.tensor([0] * 10 + [1] * 10)
    train_x, train_y, test_x, test_y = toy.train_test_split(inputs, labels, test_fraction=0.3, seed=0)
    assert torch.bincount(test_y).tolist() == [3, 3] and torch.bincount(train_y).tolist() == [7, 7]
    assert not set(train_x[:, 0].tolist()) & set(test_x[:, 0].tolist())
    with pytest.raises(ValueError, match="test_fraction"):
        toy.train_test_split(inputs, labels, test_fraction=1.0)


def test_label_propagation_spreads_labels_within_clusters_only():
    points, labels, modes = toy.multimodal_circle(
        num_classes=2, modes_per_class=2, samples_per_mode=10, noise=0.05, seed=0, return_modes=True
    )
    known = torch.zeros(len(labels), dtype=torch.bool)
    known[0] = known[20] = True  # one label per class, both in mode 0
    scores = toy.label_propagation(points, labels, labelled=known, num_classes=2, num_neighbours=3)
    predicted = scores.argmax(1)
    mode0 = modes == 0
    assert torch.equal(predicted[mode0], labels[mode0])  # reached its own cluster
    assert scores[~mode0].abs().max() < 1e-6  # the fixed graph never reaches the other clusters
    with pytest.raises(ValueError, match="labelled"):
        toy.label_propagation(points, labels, labelled=torch.zeros(len(labels), dtype=torch.bool), num_classes=2)


def test_loss_gradients_match_autograd_through_proxygmlloss():
    points, labels = toy.multimodal_circle(num_classes=3, modes_per_class=2, samples_per_mode=6, seed=0)
    proxies = toy.toy_proxies(num_classes=3, proxies_per_class=2, dim=2, modes_per_class=2, jitter=0.4, seed=1)
    grads = toy.loss_gradients(
        points, labels, proxies=proxies, num_classes=3, proxies_per_class=2, r=0.5, weight_lambda=0.7
    )

    loss_fn = ProxyGMLLoss(3, 2, 2, r=0.5, weight_lambda=0.7)
    with torch.no_grad():
        loss_fn.proxies.copy_(proxies)
    x = points.clone().requires_grad_(True)
    loss_fn(x, labels).backward()
    assert grads.loss_s == pytest.approx(float(loss_fn.loss_s), abs=1e-6)
    assert grads.loss_p == pytest.approx(float(loss_fn.loss_p), abs=1e-6)
    assert grads.loss == pytest.approx(grads.loss_s + 0.7 * grads.loss_p)
    torch.testing.assert_close(grads.proxies_s + grads.proxies_p, -loss_fn.proxies.grad, atol=1e-5, rtol=1e-4)
    tangent = x.grad - (x.grad * points).sum(1, keepdim=True) * points
    torch.testing.assert_close(grads.points_s, -tangent, atol=1e-6, rtol=1e-5)
    assert (grads.points_s * points).sum(1).abs().max() < 1e-6  # tangent to the circle


def test_loss_gradients_without_lambda_have_no_regulariser_force_and_check_shapes():
    points, labels = toy.multimodal_circle(num_classes=3, modes_per_class=2, samples_per_mode=4, seed=0)
    proxies = toy.toy_proxies(num_classes=3, proxies_per_class=2, dim=2, seed=0)
    grads = toy.loss_gradients(points, labels, proxies=proxies, num_classes=3, proxies_per_class=2, weight_lambda=0.0)
    assert grads.proxies_p.abs().max() == 0
    with pytest.raises(ValueError, match="proxies must have shape"):
        toy.loss_gradients(points, labels, proxies=proxies[:5], num_classes=3, proxies_per_class=2)


def test_tiny_embedding_outputs_unit_vectors():
    model = toy.TinyEmbedding(in_dim=2, embedding_dim=3, hidden=8, depth=1)
    out = model(torch.randn(7, 2))
    assert out.shape == (7, 3)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(7))
    assert isinstance(model.net[0], torch.nn.Linear)


@pytest.fixture(scope="module")
def blobs():
    inputs, labels = toy.multimodal_blobs(num_classes=3, modes_per_class=2, samples_per_mode=30, spread=0.25, seed=0)
    return toy.train_test_split(inputs, labels, test_fraction=0.5, seed=0)


def test_train_toy_embedding_records_history_and_learns(blobs):
    train_x, train_y, test_x, test_y = blobs
    threads = torch.get_num_threads()
    history = toy.train_toy_embedding(
        train_x,
        train_y,
        num_classes=3,
        proxies_per_class=2,
        r=0.5,
        recipe=toy.ToyRecipe(num_steps=80, batch_size=32, num_snapshots=5, eval_every=20),
        eval_inputs=test_x,
        eval_labels=test_y,
        seed=0,
    )
    assert torch.get_num_threads() == threads  # restored
    assert history.name == "ProxyGML N=2" and history.steps == list(range(1, 81))
    assert len(history.loss) == len(history.loss_s) == len(history.loss_p) == 80
    assert [s.step for s in history.snapshots] == [0, 20, 40, 60, 80]
    assert history.snapshots[0].embeddings.shape == (len(train_x), 2)
    assert history.snapshots[-1].proxies.shape == (6, 2)
    assert history.snapshots[-1].proxy_labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert history.eval_steps == [0, 20, 40, 60, 80]
    assert set(history.final_recall) == {1, 2} and all(0 <= v <= 1 for v in history.final_recall.values())
    assert sum(history.loss[-10:]) < sum(history.loss[:10])  # it trains
    assert history.recall_at_1[-1] > history.recall_at_1[0]
    assert history.loss[-1] == pytest.approx(history.loss_s[-1] + 0.3 * history.loss_p[-1], rel=1e-5)


def test_with_k_at_most_n_the_network_gets_only_rounding_level_gradients(blobs):
    train_x, train_y, _, _ = blobs
    model = toy.TinyEmbedding(in_dim=2, embedding_dim=2, hidden=8, depth=1)
    loss_fn = ProxyGMLLoss(3, 3, 2, r=0.3, weight_lambda=0.0)  # k = ceil(0.3*3*3) = 3 = N
    with pytest.warns(RuntimeWarning, match="k = ceil"):
        loss = loss_fn(model(train_x), train_y)
    loss.backward()
    assert abs(loss.item()) < 1e-6
    assert max(p.grad.abs().max() for p in model.parameters()) < 1e-6


@pytest.mark.parametrize("loss", ["proxynca", "proxyanchor"])
def test_train_toy_embedding_runs_the_pytorch_metric_learning_baselines(blobs, loss):
    train_x, train_y, _, _ = blobs
    history = toy.train_toy_embedding(
        train_x, train_y, num_classes=3, loss=loss, recipe=toy.ToyRecipe(num_steps=5, num_snapshots=2)
    )
    assert history.loss_name == loss and history.proxies_per_class == 1
    assert history.snapshots[-1].proxies.shape == (3, 2)
    assert all(math.isnan(v) for v in history.loss_s) and all(math.isfinite(v) for v in history.loss)


def test_train_toy_embedding_rejects_bad_input(blobs):
    train_x, train_y, test_x, _ = blobs
    one_step = toy.ToyRecipe(num_steps=1)
    with pytest.raises(ValueError, match="loss must be one of"):
        toy.train_toy_embedding(train_x, train_y, num_classes=3, loss="triplet", recipe=one_step)
    with pytest.raises(ValueError, match="eval_labels"):
        toy.train_toy_embedding(train_x, train_y, num_classes=3, recipe=one_step, eval_inputs=test_x)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        toy.train_toy_embedding(train_x, train_y, num_classes=2, recipe=one_step)


def test_train_step_updates_the_model():
    model = toy.TinyEmbedding(in_dim=2, embedding_dim=2, hidden=4, depth=1)
    loss_fn = ProxyGMLLoss(2, 1, 2, r=1.0)
    optimizer = torch.optim.SGD([*model.parameters(), *loss_fn.parameters()], lr=0.5)
    before = [p.clone() for p in model.parameters()]
    inputs, labels = torch.randn(8, 2), torch.tensor([0, 1] * 4)
    value = toy.train_step(model, loss_fn, optimizer, inputs, labels)
    assert not value.requires_grad and math.isfinite(float(value))
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert F.normalize(model(inputs), dim=1).shape == (8, 2)


def test_toy_history_records_the_proxy_cosines_every_step(blobs):
    train_x, train_y, _, _ = blobs
    history = toy.train_toy_embedding(
        train_x,
        train_y,
        num_classes=3,
        proxies_per_class=2,
        r=0.5,
        recipe=toy.ToyRecipe(num_steps=6, num_snapshots=2),
        seed=0,
    )
    assert len(history.within_cosine) == len(history.across_cosine) == 7  # step 0 and every step
    last = history.snapshots[-1]
    assert (history.within_cosine[-1], history.across_cosine[-1]) == pytest.approx(
        toy.proxy_cosines(last.proxies, last.proxy_labels), abs=1e-6
    )
    assert history.k == steps.subgraph_size(0.5, 3, 2) and history.seed == 0


def test_proxy_cosines_of_merged_and_of_opposite_proxies():
    labels = [0, 0, 1, 1]
    merged = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 2.0]])
    assert toy.proxy_cosines(merged, labels) == pytest.approx((1.0, 0.0))
    opposite = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    assert toy.proxy_cosines(opposite, labels) == pytest.approx((-1.0, 0.0), abs=1e-6)
    within, across = toy.proxy_cosines(torch.eye(3), [0, 1, 2])
    assert math.isnan(within) and across == pytest.approx(0.0)


def test_train_toy_embedding_takes_keywords_only_and_restores_threads(blobs):
    train_x, train_y, _, _ = blobs
    with pytest.raises(TypeError):
        toy.train_toy_embedding(train_x, train_y, 3)  # num_classes is keyword-only
    threads = torch.get_num_threads()
    one_thread = toy.ToyRecipe(num_steps=1, num_snapshots=1, num_threads=1)
    toy.train_toy_embedding(train_x, train_y, num_classes=3, recipe=one_thread)
    assert torch.get_num_threads() == threads
    with pytest.raises(ValueError, match="num_threads"):
        toy.ToyRecipe(num_steps=1, num_threads=0)
