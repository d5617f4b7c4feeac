"""Resumable studies: the N x r grid and the paper's ablation, cached cell by cell."""

import json

import numpy as np
import pytest
from PIL import Image

from proxygml_lite import studies
from proxygml_lite.config import config_from_preset


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(0)
    for split, labels in (("train", range(6)), ("test", range(6, 10))):
        for label in labels:
            folder = root / split / str(label)
            folder.mkdir(parents=True)
            pattern = rng.integers(0, 256, (16, 16, 3))
            for i in range(3):
                image = np.clip(pattern + rng.normal(0, 60, pattern.shape), 0, 255).astype(np.uint8)
                Image.fromarray(image).save(folder / f"{i}.png")
    return config_from_preset(
        "folder", data=str(root), backbone="smallcnn", dim=8, N=2, r=0.3, batch_size=6, epochs=1, image_size=16,
        workers=0, quiet=True, device="cpu", warm=0, compute_nmi=False, recall_ks=(1, 2), eval_untrained=False,
    )


class CountingTrain:
    """Stands in for studies.train: counts calls; call number ``interrupt_call`` gets a Ctrl-C after its first step."""

    def __init__(self, interrupt_call=None):
        self.calls = []
        self.interrupt_call = interrupt_call

    def __call__(self, config):
        self.calls.append(config)
        callback = None
        if len(self.calls) == self.interrupt_call:

            def callback(event, info):
                if event == "step_end" and info["step"] == 1:
                    raise KeyboardInterrupt

        return studies.__dict__["_real_train"](config, callback=callback)


@pytest.fixture
def counting(monkeypatch):
    monkeypatch.setitem(studies.__dict__, "_real_train", studies.train)

    def install(interrupt_call=None):
        spy = CountingTrain(interrupt_call)
        monkeypatch.setattr(studies, "train", spy)
        return spy

    return install


def test_parameter_study_resumes_after_an_interruption(base, tmp_path, counting):
    out = tmp_path / "grid"
    first = counting(interrupt_call=2)
    with pytest.raises(KeyboardInterrupt):
        studies.run_parameter_study(base, N_values=[1, 2], r_values=[0.5], out_dir=out)
    assert len(first.calls) == 2
    assert (out / "N1_r0.5" / "results.json").exists()
    assert not (out / "N2_r0.5" / "results.json").exists()
    import torch

    assert torch.load(out / "N2_r0.5" / "checkpoint.pt", weights_only=False)["step"] == 1  # interrupted cell

    second = counting()
    table = studies.run_parameter_study(base, N_values=[1, 2], r_values=[0.5], out_dir=out)
    assert [c.N for c in second.calls] == [2]  # the finished cell was read back, not recomputed
    assert second.calls[0].resume  # ... and the interrupted one continued from its checkpoint
    assert list(table["N"]) == [1, 2] and list(table["r"]) == [0.5, 0.5]
    assert list(table["k"]) == [3, 6]  # ceil(r*C*N) with C = 6
    assert list(table["cached"]) == [True, False]
    assert table[["R@1", "R@2"]].notna().all().all()
    saved = json.loads((out / "N2_r0.5" / "config.json").read_text())
    assert (saved["N"], saved["r"]) == (2, 0.5)
    assert (out / "study.csv").read_text().count("\n") == 3  # header + 2 cells

    third = counting()
    again = studies.run_parameter_study(base, N_values=[1, 2], r_values=[0.5], out_dir=out)
    assert third.calls == [] and list(again["cached"]) == [True, True]
    assert again["R@1"].tolist() == table["R@1"].tolist()


def test_ablation_rows_switch_the_three_modules_like_the_paper(base, tmp_path, counting):
    spy = counting()
    table = studies.run_ablation(base, tmp_path / "ablation", rows=[1, 4, 8])
    assert list(table["row"]) == [1, 4, 8]
    assert table[["S^pos", "M", "L^p"]].values.tolist() == [
        [False, False, False], [False, False, True], [True, True, True],
    ]
    switches = [(c.positive_mask, c.mask_softmax, c.weight_lambda) for c in spy.calls]
    assert switches == [(False, False, 0.0), (False, False, 0.3), (True, True, 0.3)]
    assert json.loads((tmp_path / "ablation" / "row1" / "config.json").read_text())["weight_lambda"] == 0.0


def test_the_paper_order_of_the_eight_rows():
    assert [row[1:] for row in studies.ABLATION_ROWS] == [
        (False, False, False), (True, False, False), (False, True, False), (False, False, True),
        (False, True, True), (True, False, True), (True, True, False), (True, True, True),
    ]


def test_study_errors(base, tmp_path):
    with pytest.raises(ValueError, match="loss='proxygml'"):
        studies.run_ablation(base.replace(loss="proxyanchor"), tmp_path)
    with pytest.raises(ValueError, match="numbered 1-8"):
        studies.run_ablation(base, tmp_path, rows=[9])
    with pytest.raises(ValueError, match="at least one value"):
        studies.run_parameter_study(base, [], [0.1], tmp_path)


def test_a_cell_run_with_other_settings_is_not_silently_reused(base, tmp_path):
    studies.run_parameter_study(base, [1], [0.5], tmp_path)
    with pytest.raises(ValueError, match="other settings"):
        studies.run_parameter_study(base.replace(dim=4), [1], [0.5], tmp_path)
