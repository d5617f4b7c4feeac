"""ProxyGMLLoss against the independent dense reference, and its contract."""

import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from reference_proxygml import dense_proxygml

from proxygml_lite import ProxyGMLLoss

SETTINGS = [
    # C, N, r, lambda
    (2, 1, 1.0, 0.0),
    (5, 3, 0.4, 0.3),
    (10, 4, 0.2, 1.0),
    (100, 12, 0.05, 0.3),  # CUB-200 recipe
    (98, 12, 0.05, 0.3),  # Cars196 recipe (k = 59 by float rounding)
    (300, 1, 0.05, 0.0),  # SOP-like: N = 1, lambda = 0
]
SWITCHES = [dict(positive_mask=pos, mask_softmax=msk) for pos in (True, False) for msk in (True, False)]


def _batch(batch, dim, num_classes, dtype, seed):
    generator = torch.Generator().manual_seed(seed)
    x = F.normalize(torch.randn(batch, dim, generator=generator, dtype=dtype), dim=1)
    y = torch.randint(0, num_classes, (batch,), generator=generator)
    return x, y


def _compare(loss_fn, x, y, rtol, atol):
    x1 = x.clone().requires_grad_()
    total = loss_fn(x1, y)
    grad_x, grad_p = torch.autograd.grad(total, [x1, loss_fn.proxies])

    x2 = x.clone().requires_grad_()
    p2 = loss_fn.proxies.detach().clone().requires_grad_()
    ref_total, ref_s, ref_p = dense_proxygml(
        x2,
        y,
        p2,
        loss_fn.num_classes,
        loss_fn.proxies_per_class,
        loss_fn.r,
        loss_fn.weight_lambda,
        loss_fn.positive_mask,
        loss_fn.mask_softmax,
    )
    ref_grad_x, ref_grad_p = torch.autograd.grad(ref_total, [x2, p2])

    torch.testing.assert_close(total, ref_total, rtol=rtol, atol=atol)
    torch.testing.assert_close(loss_fn.loss_s, ref_s.detach(), rtol=rtol, atol=atol)
    torch.testing.assert_close(loss_fn.loss_p, ref_p.detach(), rtol=rtol, atol=atol)
    scale_x = ref_grad_x.abs().max().clamp_min(1e-12)
    scale_p = ref_grad_p.abs().max().clamp_min(1e-12)
    torch.testing.assert_close(grad_x / scale_x, ref_grad_x / scale_x, rtol=rtol, atol=atol)
    torch.testing.assert_close(grad_p / scale_p, ref_grad_p / scale_p, rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype,rtol,atol", [(torch.float32, 1e-5, 1e-6), (torch.float64, 1e-10, 1e-12)])
@pytest.mark.parametrize(
    "switches", SWITCHES, ids=lambda s: f"pos{int(s['positive_mask'])}-mask{int(s['mask_softmax'])}"
)
@pytest.mark.parametrize("C,N,r,lam", SETTINGS)
def test_matches_dense_reference(C, N, r, lam, switches, dtype, rtol, atol):
    torch.manual_seed(C * 1000 + N)
    loss_fn = ProxyGMLLoss(C, N, 16, r=r, weight_lambda=lam, **switches).to(dtype)
    x, y = _batch(24, 16, C, dtype, seed=C + N)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # k <= N in some settings: tested separately
        _compare(loss_fn, x, y, rtol, atol)


@pytest.mark.parametrize("lam", [0.0, 0.3])
def test_ablation_rows_match_reference_with_lambda(lam):
    """All eight rows of the paper's ablation (S^pos, M, L^p on/off) at the CUB recipe."""
    for switches in SWITCHES:
        loss_fn = ProxyGMLLoss(100, 12, 32, r=0.05, weight_lambda=lam, **switches)
        x, y = _batch(32, 32, 100, torch.float32, seed=7)
        _compare(loss_fn, x, y, 1e-5, 1e-6)


def test_gradcheck_float64():
    torch.manual_seed(0)
    loss_fn = ProxyGMLLoss(6, 3, 5, r=0.3, weight_lambda=0.5).double()
    x, y = _batch(8, 5, 6, torch.float64, seed=1)
    x.requires_grad_()

    def fn(embeddings, proxies):
        return torch.func.functional_call(loss_fn, {"proxies": proxies}, (F.normalize(embeddings, dim=1), y))

    proxies = loss_fn.proxies.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(fn, (x, proxies), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("switches", SWITCHES)
def test_gradcheck_float64_each_switch(switches):
    torch.manual_seed(1)
    loss_fn = ProxyGMLLoss(5, 2, 4, r=0.5, weight_lambda=0.3, **switches).double()
    x, y = _batch(6, 4, 5, torch.float64, seed=2)
    proxies = loss_fn.proxies.detach().clone().requires_grad_()
    x.requires_grad_()

    def fn(embeddings, raw_proxies):
        return torch.func.functional_call(loss_fn, {"proxies": raw_proxies}, (embeddings, y))

    assert torch.autograd.gradcheck(fn, (x, proxies), eps=1e-6, atol=1e-6)


def test_initialisation_matches_official_kaiming_on_transposed_tensor():
    torch.manual_seed(123)
    loss_fn = ProxyGMLLoss(7, 3, 11)
    torch.manual_seed(123)
    official = torch.empty(11, 21)
    torch.nn.init.kaiming_uniform_(official, a=math.sqrt(5))
    assert loss_fn.proxies.shape == (21, 11)
    assert torch.equal(loss_fn.proxies.detach(), official.t())
    assert loss_fn.proxies.is_contiguous()


def test_proxy_rows_are_grouped_by_class():
    """Rows c*N .. c*N+N-1 belong to class c: only they are forced into the subgraph."""
    loss_fn = ProxyGMLLoss(4, 3, 8, r=0.25)  # k = 3 = N
    x, y = _batch(5, 8, 4, torch.float32, seed=3)
    with pytest.warns(RuntimeWarning):
        loss_fn(x, y)
    from proxygml_lite import steps

    s = steps.similarity_graph(x, loss_fn.proxies)
    sub = steps.select_subgraph(s, y, 4, 3, loss_fn.k)
    for row, label in zip(sub.indices, y):
        assert sorted(row.tolist()) == list(range(label * 3, label * 3 + 3))


def test_total_is_sum_of_terms_and_terms_are_logged():
    loss_fn = ProxyGMLLoss(10, 2, 8, r=0.3, weight_lambda=0.7)
    x, y = _batch(6, 8, 10, torch.float32, seed=4)
    total = loss_fn(x, y)
    assert total.dim() == 0
    assert not loss_fn.loss_s.requires_grad and not loss_fn.loss_p.requires_grad
    torch.testing.assert_close(total.detach(), loss_fn.loss_s + 0.7 * loss_fn.loss_p)
    assert loss_fn.loss_p > 0


def test_lambda_zero_skips_regulariser():
    loss_fn = ProxyGMLLoss(10, 2, 8, r=0.3, weight_lambda=0.0)
    x, y = _batch(6, 8, 10, torch.float32, seed=4)
    total = loss_fn(x, y)
    assert loss_fn.loss_p.item() == 0.0
    torch.testing.assert_close(total.detach(), loss_fn.loss_s)


def test_large_similarities_do_not_overflow():
    """Z can reach N; a literal exp() overflows float16 but the loss stays finite."""
    loss_fn = ProxyGMLLoss(3, 40, 4, r=1.0, weight_lambda=0.0)
    with torch.no_grad():
        loss_fn.proxies.copy_(torch.tensor([1.0, 0, 0, 0]).repeat(120, 1))
    x = torch.tensor([[1.0, 0, 0, 0]])
    loss = loss_fn(x, torch.tensor([0]))
    assert torch.isfinite(loss)


def test_autocast_keeps_loss_in_float32():
    loss_fn = ProxyGMLLoss(20, 3, 16, r=0.2)
    x, y = _batch(8, 16, 20, torch.float32, seed=5)
    reference = loss_fn(x, y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = loss_fn(x.bfloat16(), y)
    assert loss.dtype == torch.float32
    # bf16 inputs lose precision, but the loss is computed in float32 from them.
    torch.testing.assert_close(loss, reference, rtol=2e-2, atol=2e-2)


def test_warns_once_when_k_not_above_n_and_names_a_fix():
    loss_fn = ProxyGMLLoss(10, 5, 8, r=0.05)  # k = ceil(2.5) = 3 <= 5
    x, y = _batch(4, 8, 10, torch.float32, seed=6)
    with pytest.warns(RuntimeWarning, match=r"r > 1/C = 0\.1") as record:
        loss = loss_fn(x, y)
        loss_fn(x, y)
    assert len([w for w in record if issubclass(w.category, RuntimeWarning)]) == 1
    assert loss_fn.loss_s.item() < 1e-6  # L^s is identically 0: only own-class proxies in the subgraph
    assert loss.item() > 0  # only lambda L^p is left


def test_no_warning_without_positive_mask_or_with_large_k():
    x, y = _batch(4, 8, 10, torch.float32, seed=6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ProxyGMLLoss(10, 5, 8, r=0.05, positive_mask=False)(x, y)
        ProxyGMLLoss(10, 5, 8, r=0.2)(x, y)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(num_classes=1), "num_classes"),
        (dict(num_classes=2.5), "num_classes"),
        (dict(proxies_per_class=0), "proxies_per_class"),
        (dict(embedding_dim=0), "embedding_dim"),
        (dict(r=0.0), r"r must be a number in \(0, 1\]"),
        (dict(r=1.5), r"r must be a number in \(0, 1\]"),
        (dict(r=-0.1), r"r must be"),
        (dict(r=float("nan")), r"r must be"),
        (dict(weight_lambda=-1.0), "weight_lambda"),
        (dict(weight_lambda=float("inf")), "weight_lambda"),
    ],
)
def test_bad_hyper_parameters(kwargs, match):
    args = dict(num_classes=10, proxies_per_class=2, embedding_dim=8)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        ProxyGMLLoss(**args)


@pytest.mark.parametrize(
    "x,y,match",
    [
        (torch.randn(4, 8), torch.tensor([0, 1, 2, 10]), r"labels must lie in \[0, num_classes\)"),
        (torch.randn(4, 8), torch.tensor([0, 1, -1, 2]), r"\[0, 10\)"),
        (torch.randn(4, 8), torch.tensor([[0, 1, 2, 3]]), "labels must be a 1-D"),
        (torch.randn(4, 8), torch.tensor([0.0, 1.0, 2.0, 3.0]), "integer"),
        (torch.randn(4, 8), torch.tensor([0, 1, 2]), "must match"),
        (torch.randn(4, 7), torch.tensor([0, 1, 2, 3]), "embedding_dim=8"),
        (torch.randn(4, 8, 1), torch.tensor([0, 1, 2, 3]), "2-D tensor"),
        (torch.randn(8), torch.tensor([0]), "2-D tensor"),
        (torch.tensor([[float("nan")] * 8]), torch.tensor([0]), "NaN or Inf"),
        (torch.tensor([[float("inf")] * 8]), torch.tensor([0]), "NaN or Inf"),
        (torch.zeros(0, 8), torch.zeros(0, dtype=torch.long), "empty"),
    ],
)
def test_bad_inputs(x, y, match):
    loss_fn = ProxyGMLLoss(10, 2, 8, r=0.3)
    with pytest.raises(ValueError, match=match):
        loss_fn(x, y)


def test_state_dict_round_trip_holds_only_the_proxies():
    loss_fn = ProxyGMLLoss(10, 2, 8)
    state = loss_fn.state_dict()
    assert list(state) == ["proxies"]
    other = ProxyGMLLoss(10, 2, 8)
    other.load_state_dict(state)
    assert torch.equal(other.proxies, loss_fn.proxies)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int8, torch.int16, torch.int32])
def test_any_integer_label_dtype_gives_the_int64_result(dtype):
    torch.manual_seed(0)
    loss_fn = ProxyGMLLoss(10, 2, 8, r=0.3)
    x, y = _batch(6, 8, 10, torch.float32, seed=1)
    torch.testing.assert_close(loss_fn(x, y.to(dtype)), loss_fn(x, y), rtol=0, atol=0)


def test_nan_or_inf_proxies_are_a_clear_error_under_validation():
    loss_fn = ProxyGMLLoss(10, 2, 8, r=0.3)
    x, y = _batch(4, 8, 10, torch.float32, seed=2)
    with torch.no_grad():
        loss_fn.proxies[3, 1] = float("nan")
    with pytest.raises(ValueError, match=r"the proxies contain NaN or Inf.*--centerlr"):
        loss_fn(x, y)
    loss_fn.validate = False  # the trainer's setting: no value checks per call (they wait for the device)
    assert torch.isnan(loss_fn(x, y))


def test_without_validation_only_free_checks_run():
    loss_fn = ProxyGMLLoss(10, 2, 8, r=0.3, validate=False)
    with pytest.raises(ValueError, match="embedding_dim=8"):  # shapes are still checked
        loss_fn(torch.randn(4, 7), torch.tensor([0, 1, 2, 3]))
    x, y = _batch(4, 8, 10, torch.float32, seed=3)
    assert torch.isfinite(loss_fn(x, y))


@pytest.mark.parametrize(
    "switches", SWITCHES, ids=lambda s: f"pos{int(s['positive_mask'])}-mask{int(s['mask_softmax'])}"
)
def test_sop_scale_option_matches_the_official_scaled_mask_softmax(switches):
    """scale=20 is the official code's commented-out SOP line: exp(Z * scale) with M from Z."""
    torch.manual_seed(5)
    loss_fn = ProxyGMLLoss(30, 1, 16, r=0.2, weight_lambda=0.0, scale=20.0, **switches).double()
    x, y = _batch(12, 16, 30, torch.float64, seed=4)
    x1 = x.clone().requires_grad_()
    total = loss_fn(x1, y)
    ref_total, _, _ = dense_proxygml(x, y, loss_fn.proxies.detach(), 30, 1, 0.2, 0.0, scale=20.0, **switches)
    torch.testing.assert_close(total, ref_total, rtol=1e-10, atol=1e-12)
    off = ProxyGMLLoss(30, 1, 16, r=0.2, weight_lambda=0.0, **switches).double()
    off.load_state_dict(loss_fn.state_dict())
    assert not torch.allclose(off(x, y), total)  # off by default: scale 1, the official behaviour
    assert "scale=20.0" in repr(loss_fn) and "scale" not in repr(off)
    with pytest.raises(ValueError, match="scale must be a finite number > 0"):
        ProxyGMLLoss(30, 1, 16, scale=0.0)


def test_terms_name_the_two_parts():
    loss_fn = ProxyGMLLoss(10, 2, 8, r=0.3, weight_lambda=0.5)
    x, y = _batch(4, 8, 10, torch.float32, seed=6)
    total = loss_fn(x, y)
    terms = loss_fn.terms()
    assert set(terms) == {"loss_s", "loss_p"}
    torch.testing.assert_close(total.detach(), terms["loss_s"] + 0.5 * terms["loss_p"])
