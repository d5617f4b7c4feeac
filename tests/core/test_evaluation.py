"""Tests of proxygml_lite.evaluation: hand-computed answers, a brute-force
reference, backend/chunking agreement, and pytorch-metric-learning's
AccuracyCalculator."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from proxygml_lite import evaluation as ev
from proxygml_lite.evaluation import evaluate, map_at_r, neighbour_statistics, nmi, r_precision, recall_at_k

HAS_FAISS = ev.load_faiss() is not None
BACKENDS = ["torch"] + (["faiss"] if HAS_FAISS else [])
needs_faiss = pytest.mark.skipif(not HAS_FAISS, reason="faiss is not installed")


def on_circle(degrees) -> np.ndarray:
    """2-D unit vectors at the given angles; cosine similarity = cos(angle difference)."""
    a = np.deg2rad(np.asarray(degrees, dtype=np.float64))
    return np.stack([np.cos(a), np.sin(a)], axis=1).astype(np.float32)


# --------------------------------------------------------------------------- #
# Hand-computed cases
# --------------------------------------------------------------------------- #

# P0 and P1 are the SAME vector (class 0). Neighbour orders by angular distance,
# worked out by hand ({..} = exact tie, same label, so its order is irrelevant):
#   P0: P1+ P2- P6- P3+ P5- P4-      (R=2) first hit 1, AP@R 1/2,          RP 1/2
#   P1: P0+ P2- P6- P3+ P5- P4-      (R=2) first hit 1, AP@R 1/2,          RP 1/2
#   P2: {P0 P1}- P6- P5- P3- P4+     (R=1) first hit 6, AP@R 0,            RP 0
#   P3: P4- {P0 P1}+ P2- P5- P6-     (R=2) first hit 2, AP@R (1/2)(1/2),   RP 1/2
#   P4: P3- P5- P6- {P0 P1}- P2+     (R=1) first hit 6, AP@R 0,            RP 0
#   P5: P6+ ...                      (R=1) first hit 1, AP@R 1,            RP 1
#   P6: P5+ ...                      (R=1) first hit 1, AP@R 1,            RP 1
HAND_X = on_circle([0, 0, 330, 100, 145, 250, 270])
HAND_Y = np.array([0, 0, 1, 0, 1, 2, 2])
HAND_FIRST_HIT = [1, 1, 6, 2, 6, 1, 1]
HAND_RECALL = {1: 4 / 7, 2: 5 / 7, 4: 5 / 7, 5: 5 / 7, 6: 1.0}
HAND_MAP_AT_R = (0.5 + 0.5 + 0 + 0.25 + 0 + 1 + 1) / 7  # 13/28
HAND_RP = (0.5 + 0.5 + 0 + 0.5 + 0 + 1 + 1) / 7  # 1/2


@pytest.mark.parametrize("backend", BACKENDS)
def test_hand_computed_case(backend):
    assert recall_at_k(HAND_X, HAND_Y, ks=(1, 2, 4, 5, 6), backend=backend) == pytest.approx(HAND_RECALL)
    assert map_at_r(HAND_X, HAND_Y, backend=backend) == pytest.approx(13 / 28)
    assert r_precision(HAND_X, HAND_Y, backend=backend) == pytest.approx(0.5)
    stats = neighbour_statistics(HAND_X, HAND_Y, 6, with_map=True, backend=backend)
    assert stats.first_hit.tolist() == HAND_FIRST_HIT
    np.testing.assert_allclose(stats.average_precision, [0.5, 0.5, 0, 0.25, 0, 1, 1])
    np.testing.assert_allclose(stats.r_precision, [0.5, 0.5, 0, 0.5, 0, 1, 1])
    assert stats.num_relevant.tolist() == [2, 2, 1, 2, 1, 1, 1]
    out = evaluate(HAND_X, HAND_Y, recall_ks=(1, 2), compute_nmi=False, compute_map=True, backend=backend)
    assert out == pytest.approx({"R@1": 4 / 7, "R@2": 5 / 7, "MAP@R": HAND_MAP_AT_R, "RP": HAND_RP})
    assert list(out) == ["R@1", "R@2", "MAP@R", "RP"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_duplicate_of_query_counts_as_neighbour(backend):
    """Only index i is excluded for query i: its exact duplicate is its first neighbour.

    A and B (same vector) are the only class-0 samples; excluding "everything at
    similarity 1" (or by distance 0) would make both misses.
    """
    x = on_circle([0, 0, 120, 130, 240, 250])
    y = np.array([0, 0, 1, 1, 2, 2])
    assert recall_at_k(x, y, ks=(1,), backend=backend) == {1: 1.0}
    assert map_at_r(x, y, backend=backend) == pytest.approx(1.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_duplicate_with_other_label_is_not_the_query(backend):
    """A and B are the same vector with different labels: the query itself must never be
    counted (removing "the first column" instead of "index i" would, if B ranked first)."""
    x = on_circle([0, 0, 90, 100])
    y = np.array([0, 1, 1, 0])
    # A (y=0): B- C(90)- D(100)+ -> first hit 3.  B (y=1): A- C(90)+ -> first hit 2.
    stats = neighbour_statistics(x, y, 3, backend=backend)
    assert stats.first_hit[:2].tolist() == [3, 2]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("copies,k", [(5, 4), (7, 2)])
def test_many_duplicates_never_return_the_query(backend, copies, k):
    """With more than k+1 identical vectors the query may fall out of the faiss list: then
    the last neighbour is dropped instead; the query index must never appear."""
    rng = np.random.default_rng(0)
    x = np.concatenate([np.tile([[1.0, 2.0, 3.0]], (copies, 1)), rng.standard_normal((10, 3))]).astype(np.float32)
    xn = ev._prepare_embeddings(x)
    for start, stop, idx in ev._knn_blocks(xn, k, backend, chunk_size=3):
        for row, query in enumerate(range(start, stop)):
            got = idx[row].tolist()
            assert query not in got and len(set(got)) == k
            if query < copies:  # its nearest neighbours are the other copies
                assert set(got) <= set(range(copies)) - {query}


@pytest.mark.parametrize("backend", BACKENDS)
def test_lone_queries(backend):
    """R=0 queries: misses for Recall@K; left out of MAP@R and RP (pytorch-metric-learning)."""
    x = on_circle([0, 10, 90])
    y = np.array([0, 0, 1])  # sample 2 is alone in class 1
    assert recall_at_k(x, y, ks=(1, 2), backend=backend) == pytest.approx({1: 2 / 3, 2: 2 / 3})
    assert map_at_r(x, y, backend=backend) == pytest.approx(1.0)
    assert r_precision(x, y, backend=backend) == pytest.approx(1.0)
    stats = neighbour_statistics(x, y, 2, with_map=True, backend=backend)
    assert stats.first_hit.tolist() == [1, 1, 3]  # 3 = "not within the 2 searched"
    assert math.isnan(stats.average_precision[2])


def test_all_lone_gives_nan_with_warning():
    x = on_circle([0, 50, 100])
    with pytest.warns(RuntimeWarning, match="R = 0"):
        assert math.isnan(map_at_r(x, [0, 1, 2]))
    with pytest.warns(RuntimeWarning, match="R = 0"):
        out = evaluate(x, [0, 1, 2], recall_ks=(1,), compute_nmi=False, compute_map=True)
    assert out["R@1"] == 0.0 and math.isnan(out["MAP@R"]) and math.isnan(out["RP"])


# --------------------------------------------------------------------------- #
# Brute-force reference: full similarity matrix + argsort
# --------------------------------------------------------------------------- #


def brute_force(x: np.ndarray, y: np.ndarray, ks) -> dict[str, float]:
    x = x.astype(np.float64)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    order = np.argsort(-sims, axis=1, kind="stable")
    out = {f"R@{k}": float(np.mean([(y[order[i, :k]] == y[i]).any() for i in range(len(y))])) for k in ks}
    aps, rps = [], []
    for i in range(len(y)):
        r = int((y == y[i]).sum()) - 1
        if r == 0:
            continue
        rel = y[order[i, :r]] == y[i]
        aps.append(sum(rel[: j + 1].sum() / (j + 1) for j in range(r) if rel[j]) / r)
        rps.append(rel.sum() / r)
    out["MAP@R"] = float(np.mean(aps))
    out["RP"] = float(np.mean(rps))
    return out


def clustered(n=300, classes=30, dim=16, noise=0.9, seed=0, lone=0):
    """Gaussian classes of at least 2 samples; then ``lone`` samples get labels of their own."""
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.repeat(np.arange(classes), 2), rng.integers(0, classes, n - 2 * classes)])
    y = rng.permutation(y)
    centres = rng.standard_normal((classes, dim))
    x = centres[y] + noise * rng.standard_normal((n, dim))
    y[:lone] = classes + np.arange(lone)  # R = 0 for these queries
    return x.astype(np.float32), y


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_brute_force(backend, seed):
    x, y = clustered(seed=seed, lone=5)  # some lone queries too
    ks = (1, 2, 4, 8, 16, 299)
    ref = brute_force(x, y, ks)
    got = evaluate(x, y, recall_ks=ks, compute_nmi=False, compute_map=True, backend=backend, chunk_size=64)
    assert got == pytest.approx(ref, abs=1e-12)
    assert 0.1 < got["R@1"] < 0.95  # a non-trivial case
    assert got["R@299"] == pytest.approx(np.mean(np.bincount(y)[y] > 1))


def test_backends_and_chunk_sizes_agree():
    x, y = clustered(n=400, classes=40, noise=1.2, seed=3)
    ks = (1, 3, 10, 50)
    results = [
        evaluate(x, y, recall_ks=ks, compute_nmi=False, compute_map=True, backend=b, chunk_size=c)
        for b in BACKENDS
        for c in (None, 1, 7, 400, 10_000)
    ]
    for r in results[1:]:
        assert r == results[0]
    firsts = [neighbour_statistics(x, y, 50, backend=b, chunk_size=c).first_hit for b in BACKENDS for c in (None, 13)]
    for f in firsts[1:]:
        np.testing.assert_array_equal(f, firsts[0])


def test_accepts_torch_tensors_lists_and_unnormalised_input():
    x, y = clustered(n=120, classes=12)
    ref = evaluate(x, y, compute_nmi=False, compute_map=True)
    t = torch.from_numpy(x * 7.5).double().requires_grad_(True)  # scale must not matter
    assert evaluate(t, torch.from_numpy(y), compute_nmi=False, compute_map=True, backend="torch") == pytest.approx(ref)
    assert evaluate(x, y.tolist(), compute_nmi=False, compute_map=True) == pytest.approx(ref)
    # Non-contiguous labels with gaps and negatives are fine.
    assert evaluate(x, y * 10 - 3, compute_nmi=False, compute_map=True) == pytest.approx(ref)


def test_default_keys_and_ranges():
    x, y = clustered(n=150, classes=10)
    out = evaluate(x, y)
    assert list(out) == ["R@1", "R@2", "R@4", "R@8", "NMI"]
    assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in out.values())
    assert out["R@1"] <= out["R@2"] <= out["R@4"] <= out["R@8"]
    assert evaluate(x, y, recall_ks=(), compute_nmi=False) == {}


# --------------------------------------------------------------------------- #
# pytorch-metric-learning
# --------------------------------------------------------------------------- #


@needs_faiss
@pytest.mark.parametrize("lone", [False, True])
def test_agrees_with_pytorch_metric_learning(lone):
    from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator

    x, y = clustered(n=400, classes=50, noise=1.0, seed=5, lone=7 if lone else 0)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)  # pml's default k-NN is L2 on what it is given
    calc = AccuracyCalculator(
        include=("precision_at_1", "mean_average_precision_at_r", "r_precision"),
        k="max_bin_count",
        device=torch.device("cpu"),
    )
    # reference=None: reference = query, ref_includes_query=True (self excluded by index).
    pml = calc.get_accuracy(torch.from_numpy(xn), torch.from_numpy(y))
    ours = evaluate(x, y, recall_ks=(1,), compute_nmi=False, compute_map=True)
    not_lone = np.bincount(y)[y] > 1
    assert lone == (not not_lone.all())
    # pml leaves lone queries out of precision_at_1; Recall@1 counts them as misses.
    assert ours["R@1"] * len(y) / not_lone.sum() == pytest.approx(pml["precision_at_1"], abs=1e-12)
    assert ours["MAP@R"] == pytest.approx(pml["mean_average_precision_at_r"], abs=1e-12)
    assert ours["RP"] == pytest.approx(pml["r_precision"], abs=1e-12)


# --------------------------------------------------------------------------- #
# NMI
# --------------------------------------------------------------------------- #

NMI_BACKENDS = ["sklearn"] + (["faiss"] if HAS_FAISS else [])


def cub_like(n_classes=100, per_class=12, dim=32, noise=1.2, seed=0):
    """Overlapping classes the shape of CUB-200-2011's test split (100 classes), scaled down."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim))
    y = np.repeat(np.arange(n_classes), per_class)
    x = centres[y] + noise * rng.normal(size=(len(y), dim))
    return x.astype(np.float32), y


def sklearn_nmi(x, y, **kmeans):
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score

    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    clusters = KMeans(int(y.max()) + 1, **kmeans).fit_predict(xn)
    return normalized_mutual_info_score(y, clusters, average_method="arithmetic")


def test_default_nmi_is_the_official_cub_cars_protocol():
    """Official evaluation.py: KMeans(n_clusters=C) = k-means++, n_init=10, max_iter=300 (seeded here)."""
    x, y = cub_like()
    for seed in (0, 1):
        ref = sklearn_nmi(x, y, init="k-means++", n_init=10, max_iter=300, random_state=seed)
        assert nmi(x, y, seed=seed) == pytest.approx(ref, abs=1e-12)
        assert nmi(x, y, seed=seed, protocol="sklearn") == pytest.approx(ref, abs=1e-12)
        assert evaluate(x, y, recall_ks=(), seed=seed)["NMI"] == pytest.approx(ref, abs=1e-12)
    assert 0.3 < ref < 0.95  # hard enough for the restarts to matter
    fast = [nmi(x, y, seed=s, protocol="fast", backend="sklearn") for s in (0, 1)]
    official = [nmi(x, y, seed=s) for s in (0, 1)]
    assert fast != official  # one short start is not the official protocol


def test_official_protocol_per_dataset():
    assert ev.official_nmi_protocol("cub200") == "sklearn" and ev.official_nmi_protocol("cars196") == "sklearn"
    assert ev.official_nmi_protocol("online_products") == "faiss" == ev.official_nmi_protocol("sop")
    assert ev.official_nmi_protocol("glyphs") == "sklearn"  # the official non-SOP path


@needs_faiss
def test_faiss_protocol_is_the_official_sop_clustering():
    """Official auxiliaries.py: faiss.Clustering, niter=20, random init, min/max points per centroid 1 / 1e9."""
    import faiss
    from sklearn.metrics import normalized_mutual_info_score

    x, y = cub_like(n_classes=40, per_class=5, seed=3)
    xn = np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)
    clustering = faiss.Clustering(xn.shape[1], 40)
    clustering.niter, clustering.min_points_per_centroid, clustering.max_points_per_centroid = 20, 1, 10**9
    clustering.seed = 5
    index = faiss.IndexFlatL2(xn.shape[1])
    clustering.train(xn, index)
    centroids = faiss.vector_float_to_array(clustering.centroids).reshape(40, -1)
    search = faiss.IndexFlatL2(xn.shape[1])
    search.add(centroids)
    ref = normalized_mutual_info_score(y, search.search(xn, 1)[1].ravel(), average_method="arithmetic")
    assert nmi(x, y, seed=5, protocol="faiss") == pytest.approx(ref, abs=1e-12)
    assert evaluate(x, y, recall_ks=(), seed=5, nmi_protocol="faiss")["NMI"] == pytest.approx(ref, abs=1e-12)


def test_faiss_protocol_without_faiss_runs_its_settings_in_sklearn(monkeypatch):
    x, y = cub_like(n_classes=20, per_class=5, seed=4)
    ref = sklearn_nmi(x, y, init="random", n_init=1, max_iter=20, random_state=2, algorithm="lloyd")
    assert evaluate(x, y, recall_ks=(), seed=2, backend="torch", nmi_protocol="faiss")["NMI"] == pytest.approx(ref)
    monkeypatch.setattr(ev, "load_faiss", lambda: None)
    assert nmi(x, y, seed=2, protocol="faiss") == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize("backend", NMI_BACKENDS)
def test_nmi_close_to_one_on_clear_clusters(backend):
    x, y = clustered(n=300, classes=6, dim=8, noise=0.02, seed=2)
    ref = sklearn_nmi(x, y, n_init=10, random_state=0)
    got = nmi(x, y, seed=0, protocol="fast", backend=backend)
    assert ref > 0.999
    assert got == pytest.approx(ref, abs=1e-9)
    assert nmi(x, y, seed=0) == pytest.approx(ref, abs=1e-9)


def test_nmi_fast_sklearn_backend_is_one_short_kmeans():
    """On overlapping classes, protocol="fast", backend="sklearn" is exactly KMeans(n_init=1, max_iter=20)."""
    x, y = clustered(n=300, classes=10, noise=1.5, seed=4)
    for seed in (0, 3):
        ref = sklearn_nmi(x, y, init="k-means++", n_init=1, max_iter=20, random_state=seed, algorithm="lloyd")
        assert nmi(x, y, seed=seed, protocol="fast", backend="sklearn") == pytest.approx(ref, abs=1e-12)
    assert 0.2 < ref < 0.95


@pytest.mark.parametrize("protocol", ["sklearn", "faiss"])
def test_nmi_protocol_settings_are_fixed(protocol):
    x, y = clustered(n=60, classes=4, noise=1.5, seed=4)
    with pytest.raises(ValueError, match="protocol='fast' only"):
        nmi(x, y, protocol=protocol, niter=5)
    with pytest.raises(ValueError, match="protocol must be one of"):
        nmi(x, y, protocol="official")


@pytest.mark.parametrize("backend", NMI_BACKENDS)
@pytest.mark.parametrize("init", ["auto", "random"])
def test_nmi_deterministic_for_a_seed(backend, init):
    x, y = clustered(n=300, classes=10, noise=1.5, seed=4)
    a = nmi(x, y, seed=7, protocol="fast", backend=backend, init=init)
    b = nmi(x.copy(), y.copy(), seed=7, protocol="fast", backend=backend, init=init)
    assert a == b and 0.0 < a < 1.0
    assert nmi(x, y, seed=7) == nmi(x.copy(), y.copy(), seed=7)


def test_nmi_in_evaluate_uses_the_seed_and_protocol():
    x, y = clustered(n=200, classes=8, noise=1.5, seed=6)
    assert evaluate(x, y, recall_ks=(), seed=3)["NMI"] == nmi(x, y, seed=3)
    fast = evaluate(x, y, recall_ks=(), seed=3, backend="torch", nmi_protocol="fast")["NMI"]
    assert fast == nmi(x, y, seed=3, protocol="fast", backend="sklearn")


def test_nmi_single_class_and_singletons():
    x = on_circle([0, 40, 80, 120])
    assert nmi(x, [5, 5, 5, 5]) == 1.0
    assert nmi(x, [0, 1, 2, 3]) == pytest.approx(1.0)


# --------------------------------------------------------------------------- #
# Errors
# --------------------------------------------------------------------------- #

X4 = on_circle([0, 30, 90, 130])
Y4 = np.array([0, 0, 1, 1])


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: recall_at_k(X4, Y4[:3], ks=(1,)), "labels has 3 entries but embeddings has 4 rows"),
        (lambda: recall_at_k(X4, Y4.astype(float), ks=(1,)), "labels must be integer"),
        (lambda: recall_at_k(X4, torch.tensor([0.0, 0, 1, 1]), ks=(1,)), "labels must be integer"),
        (lambda: recall_at_k(X4, Y4.reshape(4, 1), ks=(1,)), r"labels must be 1-D.*reshape\(-1\)"),
        (lambda: recall_at_k(X4, Y4, ks=(1, 4)), r"ks contains k=4.*use k <= 3"),
        (lambda: recall_at_k(X4, Y4), r"ks contains k=4.*use k <= 3"),  # default (1, 2, 4, 8) on 4 samples
        (lambda: recall_at_k(X4, Y4, ks=(1.5,)), "positive ints"),
        (lambda: evaluate(X4, Y4, recall_ks=(0,)), "recall_ks must hold positive ints"),
        (lambda: recall_at_k(X4, Y4, ks=()), "ks is empty"),
        (lambda: recall_at_k(np.where(np.eye(4, 2) > 0, np.nan, X4), Y4), r"NaN or infinite.*rows \[0, 1\]"),
        (lambda: evaluate(np.full((4, 2), np.inf), Y4), "NaN or infinite"),
        (lambda: recall_at_k(X4[:1], Y4[:1]), "at least 2"),
        (lambda: recall_at_k(X4[0], Y4), "must be 2-D"),
        (lambda: recall_at_k(np.zeros((4, 2)), Y4), "all zeros"),
        (lambda: recall_at_k(X4, Y4, ks=(1,), backend="gpu"), "backend must be one of"),
        (lambda: evaluate(X4, Y4, backend="cuda"), "backend must be one of"),
        (lambda: recall_at_k(X4, Y4, ks=(1,), chunk_size=0), "chunk_size must be a positive int"),
        (lambda: nmi(X4, Y4, backend="torch"), "backend must be one of"),
        (lambda: nmi(X4, Y4, init="kmeans"), "init must be"),
        (lambda: nmi(X4, Y4, seed=-1), "seed must be"),
        (lambda: nmi(X4, Y4, niter=0), "niter must be"),
        (lambda: map_at_r(X4, [[0, 0], [1, 1]]), "labels must be 1-D"),
    ],
)
def test_errors_name_problem_and_fix(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_missing_faiss_is_reported(monkeypatch):
    monkeypatch.setattr(ev, "load_faiss", lambda: None)
    with pytest.raises(ImportError, match="pip install faiss-cpu"):
        recall_at_k(X4, Y4, ks=(1,), backend="faiss")
    # auto falls back to torch / sklearn
    assert recall_at_k(X4, Y4, ks=(1,)) == {1: 1.0}
    assert 0.0 <= nmi(X4, Y4) <= 1.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_tensor_uses_gpu_and_agrees():
    x, y = clustered(n=300, classes=30)
    ref = evaluate(x, y, compute_nmi=False, compute_map=True, backend="torch")
    got = evaluate(torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda(), compute_nmi=False, compute_map=True)
    assert got == pytest.approx(ref)


def test_chance_nmi_is_the_floor_of_clusters_that_ignore_the_data():
    labels = np.repeat(np.arange(199), 12)  # glyphs_hard's test split: 199 classes of 12 images
    floor = ev.chance_nmi(labels)
    assert 0.4 < floor < 0.7  # far above 0: NMI is not adjusted for chance
    assert floor == ev.chance_nmi(torch.as_tensor(labels))  # seeded, any label container
    assert ev.chance_nmi(np.repeat(np.arange(2), 500)) < 0.01  # few large classes: near 0
    with pytest.raises(ValueError, match="repeats"):
        ev.chance_nmi(labels, repeats=0)
