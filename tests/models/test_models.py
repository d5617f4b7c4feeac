"""Tests for proxygml_lite.models: shapes, weight loading (offline), freeze_bn, transforms."""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from proxygml_lite.models import (
    BACKBONES,
    BNInception,
    HashMismatchError,
    build_model,
    build_transforms,
)
from proxygml_lite.models import bninception as bn_module
from proxygml_lite.models.common import hash_prefix_from_filename
from proxygml_lite.models.transforms import BorderFillAffine

torch.set_num_threads(min(2, torch.get_num_threads()))


def _randomise(module: nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """Give every float tensor of ``module`` distinct random values (BN statistics included)."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in module.state_dict().items():
        if value.dtype.is_floating_point:
            value = torch.randn(value.shape, generator=gen) * 0.05
            if key.endswith("running_var"):
                value = value.abs() + 0.5
        state[key] = value
    module.load_state_dict(state)
    return {k: v.clone() for k, v in state.items()}


def _save_with_hash(state, folder, stem: str) -> str:
    tmp = folder / "tmp.pth"
    torch.save(state, tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    path = folder / f"{stem}-{digest[:8]}.pth"
    os.replace(tmp, path)
    return str(path)


def _bn_keys(module: nn.Module) -> set[str]:
    keys = set()
    for name, sub in module.named_modules():
        if isinstance(sub, nn.BatchNorm2d):
            keys |= {f"{name}.{t}" for t in ("weight", "bias", "running_mean", "running_var")}
    return keys


@pytest.fixture(scope="module")
def bn_published(tmp_path_factory):
    """A state dict in the format of Cadene's bn_inception-52deb4733.pth, saved under a hash-prefixed name."""
    source = BNInception()
    state = _randomise(source, seed=1)
    bn_keys = _bn_keys(source)
    published = {}
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):
            continue  # the published file predates these buffers
        published[key] = value.reshape(1, -1) if key in bn_keys else value
    published["last_linear.weight"] = torch.randn(1000, 1024) * 0.01
    published["last_linear.bias"] = torch.zeros(1000)
    folder = tmp_path_factory.mktemp("bn")
    return _save_with_hash(published, folder, "bn_inception"), state, published


# --------------------------------------------------------------------------- #
# BN-Inception
# --------------------------------------------------------------------------- #
def test_bninception_layout_matches_cadene():
    net = BNInception()
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    # 69 conv-BN pairs: 2 tensors per conv + 5 per BN (incl. num_batches_tracked)
    assert len(shapes) == 69 * 7
    expected = {
        "conv1_7x7_s2.weight": (64, 3, 7, 7),
        "conv1_7x7_s2_bn.running_var": (64,),
        "conv2_3x3.weight": (192, 64, 3, 3),
        "inception_3a_pool_proj.weight": (32, 192, 1, 1),
        "inception_3c_double_3x3_2.weight": (96, 96, 3, 3),
        "inception_4a_1x1.weight": (224, 576, 1, 1),
        "inception_4e_double_3x3_1_bn.weight": (256,),
        "inception_5a_1x1.weight": (352, 1056, 1, 1),
        "inception_5b_pool_proj.weight": (128, 1024, 1, 1),
        "inception_5b_double_3x3_2_bn.bias": (224,),
    }
    for key, shape in expected.items():
        assert shapes[key] == shape, key
    assert "inception_3c_1x1.weight" not in shapes and "inception_4e_pool_proj.weight" not in shapes
    assert isinstance(net.inception_5a_pool, nn.AvgPool2d) and isinstance(net.inception_5b_pool, nn.MaxPool2d)
    assert net.inception_3c_3x3.stride == (2, 2) and net.inception_4e_double_3x3_2.stride == (2, 2)


def test_bninception_loads_published_format_and_embeds(bn_published):
    path, state, published = bn_published
    model = build_model("bninception", embedding_dim=32, pretrained=path).eval()
    for key, value in model.backbone.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            assert torch.equal(value, state[key]), key
    report = model.load_report
    assert report.hash_prefix == hash_prefix_from_filename(path) and len(report.hash_prefix) == 8
    assert sorted(report.skipped) == ["last_linear.bias", "last_linear.weight"]
    assert len(report.loaded) == len(published) - 2
    assert "conv1_7x7_s2_bn.weight" in report.reshaped and "conv1_7x7_s2.weight" not in report.reshaped
    assert len(report.reshaped) == 69 * 4
    assert all(k.endswith("num_batches_tracked") for k in report.kept) and len(report.kept) == 69
    assert "skipped 2: last_linear.weight, last_linear.bias" in report.summary()

    with torch.no_grad():
        out = model(torch.randn(2, 3, 224, 224))
        feats = model.backbone(torch.zeros(1, 3, 224, 224))
    assert out.shape == (2, 32) and torch.isfinite(out).all()
    assert torch.allclose(out.norm(dim=1), torch.ones(2), atol=1e-5)
    assert feats.shape == (1, 1024, 7, 7)


def test_wrong_hash_prefix_is_refused(bn_published, tmp_path):
    path, _, _ = bn_published
    real = hash_prefix_from_filename(path)
    wrong = "0" * 8 if real != "0" * 8 else "1" * 8
    bad = tmp_path / f"bn_inception-{wrong}.pth"
    try:
        os.symlink(path, bad)
    except OSError:
        shutil.copy(path, bad)
    with pytest.raises(HashMismatchError) as info:
        build_model("bninception", pretrained=str(bad))
    message = str(info.value)
    assert bad.name in message and repr(wrong) in message and repr(real) in message
    assert "Fix:" in message and "download it again" in message


def test_missing_unexpected_or_misshaped_backbone_keys_fail_loudly(bn_published):
    _, _, published = bn_published
    renamed = dict(published)
    renamed["conv1_7x7.weight"] = renamed.pop("conv1_7x7_s2.weight")
    with pytest.raises(ValueError, match=r"missing from the file \(1\): conv1_7x7_s2\.weight") as info:
        build_model("bninception", pretrained=renamed)
    assert "unexpected in the file (1): conv1_7x7.weight" in str(info.value)

    dropped = {k: v for k, v in published.items() if k != "inception_5b_pool_proj_bn.running_var"}
    with pytest.raises(ValueError, match="inception_5b_pool_proj_bn.running_var"):
        build_model("bninception", pretrained=dropped)

    misshaped = dict(published, **{"conv2_3x3.weight": torch.zeros(192, 64, 1, 1)})
    with pytest.raises(ValueError, match=r"wrong shape \(1\): conv2_3x3\.weight"):
        build_model("bninception", pretrained=misshaped)


def test_pretrained_true_uses_hub_cache_and_download(bn_published, tmp_path, monkeypatch):
    path, state, _ = bn_published
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    calls = []

    def failing_download(url, dst, hash_prefix=None, progress=True):
        calls.append((url, dst, hash_prefix))
        raise OSError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", failing_download)
    with pytest.raises(RuntimeError, match="download the file by hand") as info:
        build_model("bninception", pretrained=True)
    dst = tmp_path / "hub" / "checkpoints" / "bn_inception-52deb4733.pth"
    assert calls == [(bn_module.BNINCEPTION_URL, str(dst), "52deb4733")]
    assert str(dst) in str(info.value)

    dst.write_bytes(b"not the published weights")  # a bad file in the cache is refused, not used
    with pytest.raises(HashMismatchError, match="52deb4733"):
        build_model("bninception", pretrained=True)

    # a successful "download" of a file whose name carries its hash prefix
    name = os.path.basename(path)
    monkeypatch.setattr(bn_module, "BNINCEPTION_URL", f"http://example.invalid/{name}")

    def fake_download(url, dst, hash_prefix=None, progress=True):
        assert hash_prefix == hash_prefix_from_filename(name)
        shutil.copy(path, dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    model = build_model("bninception", embedding_dim=8, pretrained=True)
    assert model.load_report.source == str(tmp_path / "hub" / "checkpoints" / name)
    assert torch.equal(model.backbone.conv1_7x7_s2.weight, state["conv1_7x7_s2.weight"])


def test_bninception_rejects_sizes_its_reduction_blocks_cannot_join():
    model = build_model("bninception", embedding_dim=4)
    with pytest.raises(ValueError, match="multiple of 32"):
        model(torch.zeros(1, 3, 240, 240))
    with pytest.raises(ValueError, match="multiple of 32"):
        build_transforms("bninception", train=False, image_size=240)
    assert all(bn_module.valid_input_side(s) for s in (32, 64, 224, 256, 288))


# --------------------------------------------------------------------------- #
# ResNet-50
# --------------------------------------------------------------------------- #
def test_resnet50_loads_torchvision_format_and_embeds(tmp_path):
    from torchvision.models import resnet50

    source = resnet50(weights=None)
    state = _randomise(source, seed=2)
    path = _save_with_hash(state, tmp_path, "resnet50")
    model = build_model("resnet50", embedding_dim=16, pretrained=path).eval()
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert sorted(model.load_report.skipped) == ["fc.bias", "fc.weight"]
    assert model.load_report.hash_prefix == hash_prefix_from_filename(path)
    assert len(model.load_report.loaded) == len(state) - 2

    with torch.no_grad():
        out = model(torch.randn(2, 3, 224, 224))
    assert out.shape == (2, 16)
    assert torch.allclose(out.norm(dim=1), torch.ones(2), atol=1e-5)

    broken = {k: v for k, v in state.items() if not k.startswith("layer4.2.")}
    with pytest.raises(ValueError, match=r"missing from the file \(\d+\): layer4\.2\."):
        build_model("resnet50", pretrained=broken)


# --------------------------------------------------------------------------- #
# small CNN, common behaviour
# --------------------------------------------------------------------------- #
def test_smallcnn_shapes_normalisation_and_size():
    torch.manual_seed(0)
    model = build_model("smallcnn", embedding_dim=64).eval()
    assert model.in_channels == 1
    assert 100_000 <= sum(p.numel() for p in model.backbone_parameters()) <= 500_000
    x = torch.randn(5, 1, 32, 32)
    with torch.no_grad():
        out = model(x)
        manual = F.normalize(model.embedding(model.backbone(x).mean(dim=(2, 3))), dim=1)
        big = model(torch.randn(2, 1, 224, 224))  # fully convolutional: larger inputs work
    assert out.shape == (5, 64) and big.shape == (2, 64)
    assert torch.allclose(out.norm(dim=1), torch.ones(5), atol=1e-5)
    assert torch.allclose(out, manual, atol=1e-6)

    rgb = build_model("smallcnn", embedding_dim=8, in_channels=3).eval()
    with torch.no_grad():
        assert rgb(torch.randn(2, 3, 32, 32)).shape == (2, 8)


def test_channels_last_gives_the_same_embeddings():
    torch.manual_seed(0)
    model = build_model("smallcnn", embedding_dim=16).eval()
    x = torch.randn(4, 1, 32, 32)
    with torch.no_grad():
        ref = model(x)
        model = model.to(memory_format=torch.channels_last)
        out = model(x.to(memory_format=torch.channels_last))
    assert torch.allclose(ref, out, atol=1e-5)


def test_smallcnn_loads_its_own_weights_from_a_full_model_checkpoint(tmp_path):
    trained = build_model("smallcnn", embedding_dim=8)
    _randomise(trained, seed=3)
    path = tmp_path / "glyph_model.pth"
    torch.save(trained.state_dict(), path)
    model = build_model("smallcnn", embedding_dim=8, pretrained=str(path))
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, trained.backbone.state_dict()[key]), key
    assert sorted(model.load_report.skipped) == ["embedding.bias", "embedding.weight"]
    assert model.load_report.hash_prefix is None
    assert not torch.equal(model.embedding.weight, trained.embedding.weight)  # the head is always new


@pytest.mark.parametrize("backbone", BACKBONES)
def test_backbone_and_head_parameters_partition_parameters(backbone):
    model = build_model(backbone, embedding_dim=8)
    all_ids = [id(p) for p in model.parameters()]
    backbone_ids = [id(p) for p in model.backbone_parameters()]
    head_ids = [id(p) for p in model.head_parameters()]
    assert not set(backbone_ids) & set(head_ids)
    assert sorted(backbone_ids + head_ids) == sorted(all_ids)
    assert set(head_ids) == {id(model.embedding.weight), id(model.embedding.bias)}
    assert model.embedding.weight.shape == (8, model.feature_dim)


def _bn_state(model):
    return {k: v.clone() for k, v in model.state_dict().items() if "running" in k or "num_batches" in k}


def test_freeze_bn_keeps_statistics_and_trains_affine_parameters():
    torch.manual_seed(0)
    model = build_model("smallcnn", embedding_dim=8, freeze_bn=True).train()
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert model.training and bns and not any(m.training for m in bns)
    before = _bn_state(model)
    out = model(torch.randn(8, 1, 32, 32) * 3 + 1)
    out.sum().backward()
    for key, value in _bn_state(model).items():
        assert torch.equal(value, before[key]), key
    assert all(m.weight.requires_grad and m.weight.grad is not None and m.weight.grad.abs().sum() > 0 for m in bns)

    model.freeze_bn = False  # the setter re-applies the mode
    assert all(m.training for m in bns)
    model(torch.randn(8, 1, 32, 32) * 3 + 1)
    changed = [k for k, v in _bn_state(model).items() if not torch.equal(v, before[k])]
    assert changed

    model.freeze_bn = True
    model.eval().train()
    assert not any(m.training for m in bns)

    bn_model = build_model("bninception", embedding_dim=8, freeze_bn=True).train()
    assert not any(m.training for m in bn_model.modules() if isinstance(m, nn.BatchNorm2d))
    assert build_model("resnet50", embedding_dim=8, freeze_bn=False).train().backbone.bn1.training


def test_bad_arguments_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown backbone 'vgg16'.*bninception, resnet50, smallcnn"):
        build_model("vgg16")
    for dim in (0, -3, 1.5, True):
        with pytest.raises(ValueError, match="embedding_dim must be an integer >= 1"):
            build_model("smallcnn", embedding_dim=dim)
    with pytest.raises(ValueError, match="smallcnn has no published pretrained weights"):
        build_model("smallcnn", pretrained=True)
    with pytest.raises(ValueError, match="pretrained must be"):
        build_model("smallcnn", pretrained=3)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_model("smallcnn", pretrained=str(tmp_path / "nope.pth"))
    with pytest.raises(ValueError, match="converts grayscale images to 3 channels"):
        build_model("resnet50", in_channels=1)
    with pytest.raises(ValueError, match="in_channels=1 is not supported by bninception"):
        build_model("bninception", in_channels=1)
    with pytest.raises(ValueError, match="use 1 for grayscale"):
        build_model("smallcnn", in_channels=2)

    model = build_model("smallcnn", embedding_dim=4)
    with pytest.raises(ValueError, match=r"expects images of shape \(B, 1, H, W\); got \(2, 3, 32, 32\)"):
        model(torch.zeros(2, 3, 32, 32))
    with pytest.raises(ValueError, match="expects images of shape"):
        model(torch.zeros(1, 32, 32))
    with pytest.raises(ValueError, match="at least 8x8"):
        model(torch.zeros(1, 1, 4, 4))

    with pytest.raises(ValueError, match="unknown backbone"):
        build_transforms("vgg16", train=True)
    with pytest.raises(ValueError, match="train must be True or False"):
        build_transforms("smallcnn", train="yes")
    with pytest.raises(ValueError, match="image_size must be an integer >= 8"):
        build_transforms("smallcnn", train=True, image_size=4)


# --------------------------------------------------------------------------- #
# transforms
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("train", [False, True])
def test_bninception_transform_is_bgr_0_255_minus_caffe_mean(train):
    image = Image.new("RGB", (300, 260), (200, 100, 50))
    out = build_transforms("bninception", train=train)(image)
    assert out.shape == (3, 224, 224)
    expected = torch.tensor([50 - 104.0, 100 - 117.0, 200 - 128.0]).view(3, 1, 1)  # B, G, R
    assert torch.allclose(out, expected.expand_as(out), atol=1e-3)

    gray = build_transforms("bninception", train=False)(Image.new("L", (256, 256), 128))
    assert gray.shape == (3, 224, 224)
    assert torch.allclose(gray, torch.tensor([24.0, 11.0, 0.0]).view(3, 1, 1).expand_as(gray), atol=1e-3)


def test_resnet50_transform_is_rgb_imagenet_normalised():
    image = Image.new("RGBA", (256, 300), (200, 100, 50, 255))
    out = build_transforms("resnet50", train=False)(image)
    assert out.shape == (3, 224, 224)
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    expected = (torch.tensor([200, 100, 50]) / 255 - mean) / std
    assert torch.allclose(out, expected.view(3, 1, 1).expand_as(out), atol=1e-4)
    assert build_transforms("resnet50", train=True, image_size=128)(image).shape == (3, 128, 128)


def test_smallcnn_transform_grayscale_range_no_flip_and_picklable():
    rng = np.random.default_rng(0)
    glyph = Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8), "L")
    test_tf = build_transforms("smallcnn", train=False)
    train_tf = build_transforms("smallcnn", train=True)
    out = test_tf(glyph)
    assert out.shape == (1, 32, 32) and out.min() >= -1 and out.max() <= 1
    assert torch.allclose(out, torch.from_numpy(np.array(glyph)).float().div(255).sub(0.5).div(0.5)[None], atol=1e-6)
    assert test_tf(Image.new("RGB", (64, 64), (255, 255, 255))).shape == (1, 32, 32)
    torch.manual_seed(0)
    assert train_tf(glyph).shape == (1, 32, 32)
    assert not any("Flip" in type(t).__name__ for t in train_tf.transforms)
    assert build_transforms("smallcnn", train=False, in_channels=3)(glyph).shape == (3, 32, 32)
    pickle.loads(pickle.dumps(train_tf))
    pickle.loads(pickle.dumps(build_transforms("bninception", train=True)))


def test_border_fill_affine_uses_the_background_colour():
    canvas = np.full((32, 32), 255, dtype=np.uint8)
    canvas[12:20, 14:18] = 0  # a dark stroke on a white background
    affine = BorderFillAffine(degrees=(45, 45), translate=(0.2, 0.2), scale=(0.8, 0.8))
    torch.manual_seed(0)
    out = np.asarray(affine(Image.fromarray(canvas, "L")))
    assert out[0, 0] == out[0, -1] == out[-1, 0] == out[-1, -1] == 255
    assert out.min() == 0  # the stroke is still there
