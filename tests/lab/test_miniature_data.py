"""The fabricated miniature benchmarks of notebook 7 go through the real prepare pipeline and train."""

import pytest

from proxygml_lite.data import load_dataset
from proxygml_lite.data.prepare import SPECS
from proxygml_lite.lab import miniature_data
from proxygml_lite.training.presets import config_from_preset
from proxygml_lite.training.trainer import train


@pytest.mark.parametrize("name", ["cub200", "cars196", "sop"])
def test_miniature_prepares_with_the_real_pipeline(name, tmp_path):
    real = SPECS[{"sop": "online_products"}.get(name, name)]
    folder = miniature_data.prepare_miniature(name, tmp_path)
    assert SPECS[real.name] is real  # the real spec is back in place
    train_c, test_c, per_class = miniature_data.MINIATURE_SIZES[real.name]
    for split, classes in (("train", train_c), ("test", test_c)):
        ds = load_dataset(name, tmp_path, split)
        assert ds.num_classes == classes and len(ds) == classes * per_class
    assert folder == tmp_path / real.name and (folder / "manifest.json").is_file()
    train_classes = set(load_dataset(name, tmp_path, "train").classes)
    assert not train_classes & set(load_dataset(name, tmp_path, "test").classes)


def test_miniature_trains_with_the_cub_preset_on_a_small_backbone(tmp_path):
    miniature_data.prepare_miniature("cub200", tmp_path / "data")
    config = config_from_preset(
        "cub200",
        data=str(tmp_path / "data"),
        backbone="smallcnn",
        pretrained=False,
        dim=16,
        epochs=1,
        batch_size=8,
        r=0.3,
        workers=0,
        device="cpu",
        quiet=True,
        recall_ks=(1, 2),
        out=str(tmp_path / "run"),
        epoch_to_test=None,
    )
    metrics = train(config)
    assert 0.0 <= metrics["R@1"] <= 1.0 and (tmp_path / "run" / "results.json").is_file()


def test_unknown_miniature_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no miniature"):
        miniature_data.make_miniature_archives("imagenet", tmp_path)
