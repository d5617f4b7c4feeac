"""Unit tests of each ProxyGML step on examples small enough to check by hand."""

import math

import pytest
import torch
import torch.nn.functional as F

from proxygml_lite import steps


def test_proxy_labels_are_contiguous_blocks():
    assert steps.proxy_labels(3, 2).tolist() == [0, 0, 1, 1, 2, 2]
    assert steps.proxy_labels(2, 1).tolist() == [0, 1]


def test_similarity_graph_normalises_proxies_and_is_cosine():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    proxies = torch.tensor([[2.0, 0.0], [0.0, -3.0], [1.0, 1.0]])
    s = steps.similarity_graph(x, proxies)
    expected = torch.tensor([[1.0, 0.0, 1 / math.sqrt(2)], [0.0, -1.0, 1 / math.sqrt(2)]])
    torch.testing.assert_close(s, expected)


def test_positive_mask_marks_own_class_columns():
    mask = steps.positive_mask(torch.tensor([2, 0]), num_classes=3, proxies_per_class=2)
    assert mask.dtype == torch.bool
    assert mask.int().tolist() == [[0, 0, 0, 0, 1, 1], [1, 1, 0, 0, 0, 0]]


@pytest.mark.parametrize(
    "r,C,N,k",
    [(0.05, 100, 12, 60), (0.05, 98, 12, 59), (0.05, 11318, 1, 566), (1.0, 3, 2, 6), (0.01, 10, 1, 1)],
)
def test_subgraph_size_matches_official_rounding(r, C, N, k):
    assert steps.subgraph_size(r, C, N) == k == math.ceil(r * C * N)


def test_select_subgraph_forces_own_class_and_fills_with_nearest():
    # 3 classes x 2 proxies; sample of class 0 is far from its own proxies.
    s = torch.tensor([[-0.9, -0.8, 0.7, 0.1, 0.5, 0.6]])
    sub = steps.select_subgraph(s, torch.tensor([0]), 3, 2, k=3)
    assert sorted(sub.indices[0].tolist()) == [0, 1, 2]
    torch.testing.assert_close(sub.weights[0].sort().values, torch.tensor([-0.9, -0.8, 0.7]))
    # Without S^pos the own class drops out of the subgraph.
    sub = steps.select_subgraph(s, torch.tensor([0]), 3, 2, k=3, use_positive_mask=False)
    assert sorted(sub.indices[0].tolist()) == [2, 4, 5]


def test_subgraph_to_dense_is_w():
    s = torch.tensor([[0.1, 0.2, 0.3, 0.4]])
    sub = steps.select_subgraph(s, torch.tensor([0]), 2, 2, k=3)
    torch.testing.assert_close(sub.to_dense(), torch.tensor([[0.1, 0.2, 0.0, 0.4]]))


def test_select_subgraph_weights_carry_gradient_of_s():
    s = torch.tensor([[0.1, 0.2, 0.3, 0.4]], requires_grad=True)
    sub = steps.select_subgraph(s, torch.tensor([1]), 2, 2, k=3)
    sub.weights.sum().backward()
    assert s.grad.tolist() == [[0.0, 1.0, 1.0, 1.0]]


def test_reverse_label_propagation_sums_votes_per_class():
    # W row: proxies 0,1 (class 0) -> 0.5, -0.2; proxy 4 (class 2) -> 0.3; class 1 absent.
    sub = steps.Subgraph(indices=torch.tensor([[0, 1, 4]]), weights=torch.tensor([[0.5, -0.2, 0.3]]), num_proxies=6)
    z = steps.reverse_label_propagation(sub, 3, 2)
    torch.testing.assert_close(z, torch.tensor([[0.3, 0.0, 0.3]]))
    # Equals W Y^p with the dense one-hot Y^p.
    y_p = F.one_hot(steps.proxy_labels(3, 2), 3).float()
    torch.testing.assert_close(z, sub.to_dense() @ y_p)


def test_class_mask_and_mask_softmax_by_hand():
    z = torch.tensor([[1.0, 0.0, -1.0]])
    assert steps.class_mask(z).tolist() == [[True, False, True]]
    p = steps.mask_softmax(z)
    e, inv_e = math.e, 1 / math.e
    expected = torch.tensor([[e / (1e-8 + e + inv_e), 0.0, inv_e / (1e-8 + e + inv_e)]])
    torch.testing.assert_close(p, expected)


def test_mask_softmax_log_prob_equals_log_of_literal_formula():
    torch.manual_seed(0)
    z = torch.randn(50, 7, dtype=torch.float64) * 3
    z[z.abs() < 0.5] = 0.0  # some classes absent
    literal = torch.log(steps.mask_softmax(z) + 1e-20)
    torch.testing.assert_close(steps.mask_softmax_log_prob(z), literal)


def test_mask_softmax_log_prob_is_finite_where_literal_overflows():
    z = torch.tensor([[200.0, 100.0, 0.0]])  # exp(200) overflows float32
    assert not torch.isfinite(steps.mask_softmax(z)).all()
    log_p = steps.mask_softmax_log_prob(z)
    assert torch.isfinite(log_p).all()
    torch.testing.assert_close(log_p[0, 0], torch.tensor(-math.log1p(math.exp(-100))))
    torch.testing.assert_close(log_p[0, 2], torch.tensor(math.log(1e-20)))  # masked class


def test_excluded_class_gets_log_eps_and_no_gradient():
    z = torch.tensor([[0.0, 0.4, -0.3]], requires_grad=True)
    loss = steps.classification_loss(z, torch.tensor([0]))
    torch.testing.assert_close(loss, torch.tensor(-math.log(1e-20)))
    loss.backward()
    assert torch.equal(z.grad, torch.zeros_like(z))


def test_classification_loss_plain_softmax_is_cross_entropy():
    z = torch.tensor([[0.0, 0.4, -0.3], [1.0, 0.0, 0.0]])
    y = torch.tensor([0, 2])
    torch.testing.assert_close(steps.classification_loss(z, y, use_mask_softmax=False), F.cross_entropy(z, y))


def test_classification_loss_with_mask_ignores_absent_classes():
    z = torch.tensor([[0.5, 0.0, 0.25]])
    expected = -math.log(math.exp(0.5) / (1e-8 + math.exp(0.5) + math.exp(0.25)))
    torch.testing.assert_close(steps.classification_loss(z, torch.tensor([0])), torch.tensor(expected))


def test_proxy_regulariser_equals_dense_formula():
    torch.manual_seed(0)
    proxies = torch.randn(12, 5, dtype=torch.float64)
    normalized = F.normalize(proxies, dim=1)
    y_p = F.one_hot(steps.proxy_labels(4, 3), 4).double()
    dense = F.cross_entropy((normalized @ normalized.t()) @ y_p, steps.proxy_labels(4, 3))
    torch.testing.assert_close(steps.proxy_regulariser(proxies, 4, 3), dense)


def test_proxy_regulariser_is_low_for_separated_classes():
    # Two classes, each with two identical proxies on opposite poles.
    separated = torch.tensor([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [-1.0, 0.0]])
    mixed = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    assert steps.proxy_regulariser(separated, 2, 2) < steps.proxy_regulariser(mixed, 2, 2)
