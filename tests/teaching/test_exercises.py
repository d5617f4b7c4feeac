"""The exercise checkers: correct implementations pass, typical wrong ones fail with the hint that names the mistake."""

import math
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from proxygml_lite import exercises, steps


def run(checker, fn, capsys):
    verdict = checker(fn)
    return verdict, capsys.readouterr().out


# ---------------------------------------------------------------- notebook 1: S = X P^T


def similarity_by_hand(embeddings, proxies):
    return embeddings @ (proxies / proxies.norm(dim=1, keepdim=True)).t()


@pytest.mark.parametrize("fn", [steps.similarity_graph, similarity_by_hand], ids=["package", "by_hand"])
def test_similarity_graph_correct_passes(fn, capsys):
    verdict, out = run(exercises.check_similarity_graph, fn, capsys)
    assert verdict is True
    assert out.startswith("✓ check_similarity_graph") and "5 cases" in out


@pytest.mark.parametrize(
    "fn,hint",
    [
        (lambda x, p: x @ p.t(), "normalise each proxy"),
        (lambda x, p: x @ F.normalize(p, dim=0).t(), "wrong axis"),
        (lambda x, p: F.normalize(p, dim=1) @ x.t(), "shape (B, C*N)"),
        (lambda x, p: x @ (p / p.norm(dim=1, keepdim=True) ** 2).t(), "not by its square"),
    ],
    ids=["forgot_normalisation", "wrong_axis", "transposed", "squared_norm"],
)
def test_similarity_graph_wrong_fails_with_hint(fn, hint, capsys):
    verdict, out = run(exercises.check_similarity_graph, fn, capsys)
    assert verdict is False
    assert out.startswith("✗ check_similarity_graph")
    assert hint in out


# ---------------------------------------------------------------- notebook 2: positive-mask top-k


def subgraph_by_hand(similarity, labels, num_classes, proxies_per_class, k):
    proxy_class = torch.arange(num_classes * proxies_per_class) // proxies_per_class
    positive = (labels.view(-1, 1) == proxy_class.view(1, -1)).float()
    return (similarity + 1000 * positive).topk(k, dim=1).indices


def subgraph_by_sorting(similarity, labels, num_classes, proxies_per_class, k):
    # A different valid route: argsort descending (other order within a row, other tie-breaking).
    positive = steps.positive_mask(labels, num_classes, proxies_per_class)
    return torch.argsort(similarity + 3.0 * positive, dim=1, descending=True)[:, :k].flip(1)


@pytest.mark.parametrize(
    "fn",
    [
        steps.select_subgraph,
        subgraph_by_hand,
        subgraph_by_sorting,
        lambda s, y, c, n, k: subgraph_by_hand(s, y, c, n, k).int(),
    ],
    ids=["package_subgraph_object", "by_hand", "argsort_other_order", "int32"],
)
def test_select_subgraph_correct_passes(fn, capsys):
    verdict, out = run(exercises.check_select_subgraph, fn, capsys)
    assert verdict is True, out
    assert "9 cases" in out


def test_select_subgraph_accepts_any_pick_among_ties(capsys):
    def reversed_tie_break(similarity, labels, num_classes, proxies_per_class, k):
        # topk over the columns in reverse order breaks ties the other way round.
        positive = steps.positive_mask(labels, num_classes, proxies_per_class)
        ranking = (similarity + 1000 * positive).flip(1)
        return similarity.shape[1] - 1 - ranking.topk(k, dim=1).indices

    assert exercises.check_select_subgraph(reversed_tie_break) is True
    # ... and the tie case really has ties at the k-th place, where the two picks differ.
    case = next(c for c in exercises._subgraph_cases(0) if c.name == "ties in S")
    one = subgraph_by_hand(*case.copies()).sort(dim=1).values
    other = reversed_tie_break(*case.copies()).sort(dim=1).values
    assert not torch.equal(one, other)


@pytest.mark.parametrize(
    "fn,hint",
    [
        (lambda s, y, c, n, k: s.topk(k, dim=1).indices, "forgot the positive mask"),
        (lambda s, y, c, n, k: subgraph_by_hand(s, y, c, n, k)[:, :-1], "off by one"),
        (
            lambda s, y, c, n, k: torch.cat([subgraph_by_hand(s, y, c, n, k), s.argmin(1, keepdim=True)], 1),
            "off by one",
        ),
        (
            lambda s, y, c, n, k: (s + 1000 * steps.positive_mask(y, c, n)).topk(k, dim=1, largest=False).indices,
            "SMALLEST",
        ),
        (
            lambda s, y, c, n, k: (s + 1000 * (y.view(-1, 1) == torch.arange(c * n) % c)).topk(k, dim=1).indices,
            "j // N",
        ),
        (lambda s, y, c, n, k: (s + steps.positive_mask(y, c, n)).topk(k, dim=1).indices, "not 1"),
        (lambda s, y, c, n, k: (s + 1000 * steps.positive_mask(y, c, n)).topk(k, dim=0).indices, "dim=0"),
        (lambda s, y, c, n, k: steps.select_subgraph(s, y, c, n, k).to_dense(), "INDICES"),
    ],
    ids=[
        "forgot_mask",
        "k_minus_1",
        "k_plus_1",
        "smallest",
        "wrong_proxy_classes",
        "bias_too_small",
        "wrong_axis",
        "dense_w",
    ],
)
def test_select_subgraph_wrong_fails_with_hint(fn, hint, capsys):
    verdict, out = run(exercises.check_select_subgraph, fn, capsys)
    assert verdict is False
    assert out.startswith("✗ check_select_subgraph")
    assert hint in out


def test_select_subgraph_in_place_edit_is_reported(capsys):
    def in_place(similarity, labels, num_classes, proxies_per_class, k):
        similarity[steps.positive_mask(labels, num_classes, proxies_per_class)] += 1000
        return similarity.topk(k, dim=1).indices

    verdict, out = run(exercises.check_select_subgraph, in_place, capsys)
    assert verdict is False and "in place" in out and "similarity" in out


# ---------------------------------------------------------------- notebook 3: Z = W Y^p


def propagation_by_reshape(weights, num_classes, proxies_per_class):
    return weights.view(weights.shape[0], num_classes, proxies_per_class).sum(dim=2)


def propagation_by_matmul(weights, num_classes, proxies_per_class):
    return weights @ F.one_hot(steps.proxy_labels(num_classes, proxies_per_class), num_classes).float()


@pytest.mark.parametrize("fn", [propagation_by_reshape, propagation_by_matmul], ids=["reshape", "matmul"])
def test_reverse_label_propagation_correct_passes(fn, capsys):
    verdict, out = run(exercises.check_reverse_label_propagation, fn, capsys)
    assert verdict is True, out
    assert "7 cases" in out


def test_reverse_label_propagation_cases_have_absent_classes_and_edge_shapes():
    cases = exercises._propagation_cases(0)
    by_name = {case.name: case for case in cases}
    z = propagation_by_reshape(*by_name["k = N: classes with no kept proxy"].copies())
    assert bool((z == 0).any())
    assert by_name["B = 1"].args["W"].shape[0] == 1
    assert by_name["C = 1"].args["num_classes"] == 1


@pytest.mark.parametrize(
    "fn,hint",
    [
        (lambda w, c, n: w.view(w.shape[0], n, c).sum(dim=1), "wrong classes"),
        (lambda w, c, n: w.ne(0).view(w.shape[0], c, n).sum(dim=2), "does not count"),
        (lambda w, c, n: w.view(w.shape[0], c, n).mean(dim=2), "not a mean"),
        (lambda w, c, n: w.view(w.shape[0], c, n).sum(dim=2).t(), "shape (B, C)"),
        (lambda w, c, n: None, "forget `return Z`"),
    ],
    ids=["wrong_axis", "count", "mean", "transposed", "no_return"],
)
def test_reverse_label_propagation_wrong_fails_with_hint(fn, hint, capsys):
    verdict, out = run(exercises.check_reverse_label_propagation, fn, capsys)
    assert verdict is False
    assert hint in out


# ---------------------------------------------------------------- notebook 4: mask softmax


def mask_softmax_literal(z):
    masked_exp = (z != 0).float() * torch.exp(z)
    return masked_exp / (1e-8 + masked_exp.sum(dim=1, keepdim=True))


def mask_softmax_stable(z):
    return torch.nan_to_num(torch.softmax(z.masked_fill(z == 0, float("-inf")), dim=1), nan=0.0)


@pytest.mark.parametrize(
    "fn", [steps.mask_softmax, mask_softmax_literal, mask_softmax_stable], ids=["package", "literal", "stable"]
)
def test_mask_softmax_correct_passes(fn, capsys):
    verdict, out = run(exercises.check_mask_softmax, fn, capsys)
    assert verdict is True, out


@pytest.mark.parametrize(
    "fn,hint",
    [
        (lambda z: torch.softmax(z, dim=1), "softmax over ALL classes"),
        (lambda z: (z != 0) * torch.softmax(z, dim=1), "renormalise"),
        (lambda z: (z != 0) * torch.exp(z), "forgot the normalisation"),
        (lambda z: (z > 0) * torch.exp(z) / (1e-8 + ((z > 0) * torch.exp(z)).sum(1, keepdim=True)), "[Z > 0]"),
        (lambda z: torch.softmax(z.masked_fill(z == 0, float("-inf")), dim=1), "1e-8"),
        (lambda z: (z != 0) * torch.exp(z) / (1e-8 + ((z != 0) * torch.exp(z)).sum(0, keepdim=True)), "dim=1"),
    ],
    ids=[
        "softmax_all_classes",
        "mask_without_renormalising",
        "no_normalisation",
        "mask_positive_only",
        "nan_on_empty_row",
        "wrong_axis",
    ],
)
def test_mask_softmax_wrong_fails_with_hint(fn, hint, capsys):
    verdict, out = run(exercises.check_mask_softmax, fn, capsys)
    assert verdict is False
    assert hint in out


# ---------------------------------------------------------------- never raises


@pytest.mark.parametrize(
    "checker",
    [
        exercises.check_similarity_graph,
        exercises.check_select_subgraph,
        exercises.check_reverse_label_propagation,
        exercises.check_mask_softmax,
    ],
)
def test_checkers_report_instead_of_raising(checker, capsys):
    def not_written(*args):
        raise NotImplementedError

    def crashes(*args):
        return args[0] @ "oops"

    assert checker(not_written) is False
    assert "not implemented yet" in capsys.readouterr().out
    assert checker(crashes) is False
    out = capsys.readouterr().out
    assert "raised TypeError" in out and "crashes()" in out
    assert checker("not a function") is False
    assert "expected a function" in capsys.readouterr().out
    assert checker(lambda *args: "text") is False
    assert "return a torch tensor" in capsys.readouterr().out


def test_an_empty_stub_is_not_implemented_yet_but_a_missing_return_is_not(capsys):
    def dots(embeddings, proxies):
        """S = X P^T (the student edition's stub)."""
        ...

    def passes(embeddings, proxies):
        pass

    def only_a_docstring(embeddings, proxies):
        """Not written yet."""

    def forgot_return(embeddings, proxies):
        embeddings @ proxies.T

    for stub in (dots, passes, only_a_docstring):
        assert exercises.check_similarity_graph(stub) is False
        assert "not implemented yet" in capsys.readouterr().out, stub.__name__
    assert exercises.check_similarity_graph(forgot_return) is False
    assert "did you forget `return" in capsys.readouterr().out


def test_student_prints_are_not_repeated_while_diagnosing(capsys):
    def noisy_wrong(z):
        print("hello from the student")
        return torch.softmax(z, dim=1)

    exercises.check_mask_softmax(noisy_wrong)
    assert capsys.readouterr().out.count("hello from the student") == 1


# ---------------------------------------------------------------- the notebooks' hidden solutions

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def _exercise_calls():
    """(notebook, checker, function name) of every `passed = exercises.check_x(my_fn)` in the notebooks' .py files."""
    calls = []
    for source in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py")):
        for checker, function in re.findall(
            r"^(?:passed = )?exercises\.(check_\w+)\((\w+)\)", source.read_text(), re.M
        ):
            calls.append((source.name, checker, function))
    return calls


@pytest.mark.parametrize(
    "notebook,checker,function",
    _exercise_calls()
    or [pytest.param(None, None, None, marks=pytest.mark.skip(reason="no notebook calls an exercise checker yet"))],
)
def test_each_notebook_solution_passes_its_checker(notebook, checker, function, capsys):
    """The folded solution (a commented `# def my_fn(...)` in a ```python block) is right, by the checker itself."""
    text = (NOTEBOOKS / notebook).read_text()
    start = text.find(f"# def {function}(")
    assert start >= 0, f"{notebook}: no folded solution `# def {function}(...)` for {checker}"
    end = text.find("# ```", start)
    code = "\n".join(line[2:] if line.startswith("# ") else line[1:] for line in text[start:end].splitlines())
    namespace = {"torch": torch, "F": F, "steps": steps, "math": math}
    exec(compile(code, f"{notebook}:solution", "exec"), namespace)
    assert getattr(exercises, checker)(namespace[function]) is True, capsys.readouterr().out


def test_an_error_inside_torch_is_reported_at_the_students_line(capsys):
    def normalises_a_missing_axis(embeddings, proxies):
        return embeddings @ F.normalize(proxies, dim=5).t()

    assert exercises.check_similarity_graph(normalises_a_missing_axis) is False
    out = capsys.readouterr().out
    assert "raised IndexError" in out
    assert "of normalises_a_missing_axis(): return embeddings @ F.normalize(proxies, dim=5).t()" in out


ODD_OUTPUTS = [
    None,
    3,
    "text",
    {"a": 1},
    [[0, 1, 2]],
    (x for x in range(3)),
    torch.tensor(1.0),
    torch.zeros(2, 3, 4),
    torch.zeros(0),
    torch.full((2, 3), float("nan")),
    torch.zeros(2, 3, dtype=torch.bool),
    torch.zeros(2, 3, dtype=torch.complex64),
    torch.zeros(2, 3, device="meta"),
    torch.tensor([[0, 1, 99]]),
    torch.tensor([[-1, 0, 1]]),
    torch.zeros(1, 6, dtype=torch.float16),
]


@pytest.mark.parametrize(
    "checker",
    [
        exercises.check_similarity_graph,
        exercises.check_select_subgraph,
        exercises.check_reverse_label_propagation,
        exercises.check_mask_softmax,
    ],
)
def test_checkers_answer_false_to_any_odd_output_without_raising(checker, capsys):
    for output in ODD_OUTPUTS:
        assert checker(lambda *args, output=output: output) is False, output
        assert capsys.readouterr().out.startswith("✗ "), output


# ---------------------------------------------------------------- what a student's function can do to the checker


@pytest.fixture
def short_time_limit(monkeypatch):
    from proxygml_lite.exercises import _running

    monkeypatch.setattr(_running, "TIME_LIMIT_S", 0.5)


def test_an_endless_loop_is_stopped_at_the_time_limit(short_time_limit, capsys):
    import time

    def never_ends(z):
        while True:
            try:
                time.sleep(0.01)
            except Exception:  # a student's broad except does not swallow the time limit
                pass

    begin = time.perf_counter()
    assert exercises.check_mask_softmax(never_ends) is False
    assert time.perf_counter() - begin < 5
    out = capsys.readouterr().out
    assert out.startswith("✗ check_mask_softmax, case 'small example'") and "took longer than 0.5 s" in out


def test_an_endless_loop_off_the_main_thread_is_abandoned_at_the_limit(short_time_limit, capsys):
    import threading

    verdicts = []
    stop = threading.Event()

    def spins(z):
        while not stop.is_set():
            pass

    worker = threading.Thread(target=lambda: verdicts.append(exercises.check_mask_softmax(spins)))
    worker.start()
    worker.join(10)
    stop.set()
    assert verdicts == [False] and "took longer than 0.5 s" in capsys.readouterr().out


def test_a_students_prints_are_capped(capsys):
    def chatty(z):
        for i in range(5000):
            print(f"debug line {i}")
        return torch.softmax(z, dim=1)

    assert exercises.check_mask_softmax(chatty) is False
    out = capsys.readouterr().out
    assert "debug line 0" in out and "debug line 4999" not in out and len(out) < 4000
    assert "more characters printed by your function left out" in out


def test_exit_inside_the_students_function_is_reported(capsys):
    import sys

    def exits(z):
        sys.exit(3)

    assert exercises.check_mask_softmax(exits) is False
    out = capsys.readouterr().out
    assert "your function called exit() / sys.exit() (3)" in out and out.count("\n") == 1


@pytest.mark.parametrize(
    "output,hint",
    [
        (3, "returned a single int (3)"),
        (True, "returned a single boolean (True)"),
        (torch.tensor(2.5), "returned a single float (2.5)"),
        (float("nan"), "returned a single NaN"),
    ],
)
def test_a_single_number_or_boolean_gets_its_own_hint(output, hint, capsys):
    assert exercises.check_mask_softmax(lambda z: output) is False
    assert hint in capsys.readouterr().out


def test_integer_boolean_and_nan_outputs_get_their_own_hint(capsys):
    assert exercises.check_mask_softmax(lambda z: z != 0) is False
    assert "your output is a boolean tensor (a mask?)" in capsys.readouterr().out
    assert exercises.check_mask_softmax(lambda z: (z * 10).long()) is False
    assert "your output is an integer tensor (torch.int64)" in capsys.readouterr().out

    def nan_on_row_two(z):
        p = steps.mask_softmax(z)
        p[-1] = float("nan")
        return p

    assert exercises.check_mask_softmax(nan_on_row_two) is False
    assert "your output holds NaN" in capsys.readouterr().out


def test_a_sparse_result_is_compared_densely_in_one_line(capsys):
    assert exercises.check_mask_softmax(lambda z: steps.mask_softmax(z).to_sparse()) is True
    assert capsys.readouterr().out.startswith("✓ ")
    assert exercises.check_mask_softmax(lambda z: torch.softmax(z, dim=1).to_sparse()) is False
    out = capsys.readouterr().out
    assert out.startswith("✗ ") and "dispatch" not in out.lower() and out.count("\n") < 10
