"""Probe of the pretrained-backbone analogue considered for the glyphs_hard preset (README, "The glyphs_hard benchmark").

The glyph pool holds 301 distinct classes. glyphs_hard uses 100 for training and 199 as unseen test classes, which
leaves none for pretraining; a pretrained variant has to give up the extra distractors: 100 training classes, the 100
default test classes, and the other 101 classes for pretraining. This script pretrains the small CNN by
classification (cross-entropy, Adam lr 1e-3, batch 64, the training augmentation) on those 101 classes (72 images
each) and after every epoch prints Recall@1 / NMI of its embeddings (a new random 64-d head, as ProxyGML would start)
on the 100 default test classes with one image per face (the glyphs_hard image budget), which the pretraining never
sees. Usage::

    OMP_NUM_THREADS=1 python scripts/probe_glyph_pretraining.py --epochs 4
"""

import argparse
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from proxygml_lite.data.glyphs import _ensure, load_glyphs
from proxygml_lite.evaluation import evaluate
from proxygml_lite.models import build_model, build_transforms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--data", default="data")
    args = parser.parse_args()
    torch.manual_seed(0)
    _, _, manifest = _ensure(args.data, False)  # the default glyph set: 100 train, 100 test, 101 unused classes
    unused = set(manifest["unused_classes"])
    train_tf, test_tf = (
        build_transforms("smallcnn", train=True),
        build_transforms("smallcnn", train=False),
    )
    # with the same seed, num_test_classes=201 lists the default test classes AND the unused ones
    pool = load_glyphs(args.data, "test", transform=train_tf, progress=False, num_test_classes=201)
    rows = [i for i, t in enumerate(pool.targets) if pool.classes[t] in unused]
    classes = sorted({pool.targets[i] for i in rows})
    relabel = {c: j for j, c in enumerate(classes)}

    class Unused(Dataset):
        def __len__(self):
            return len(rows)

        def __getitem__(self, i):
            image, target = pool[rows[i]]
            return image, relabel[target]

    test = load_glyphs(args.data, "test", transform=test_tf, progress=False, images_per_face=1)  # disjoint classes
    assert not set(test.classes) & unused
    model = build_model("smallcnn", embedding_dim=64, pretrained=False)
    classifier = nn.Linear(128, len(classes))
    optimizer = torch.optim.Adam([*model.backbone.parameters(), *classifier.parameters()], lr=1e-3)
    loader = DataLoader(Unused(), batch_size=64, shuffle=True)

    def recall():
        model.eval()
        with torch.no_grad():
            x = torch.cat(
                [
                    model(torch.stack([test[i][0] for i in range(j, min(j + 256, len(test)))]))
                    for j in range(0, len(test), 256)
                ]
            )
        model.train()
        return evaluate(x, torch.tensor(test.targets), recall_ks=(1,), compute_nmi=True, seed=0)

    print(f"pretraining on {len(rows)} images of {len(classes)} unused classes; random init: {recall()}")
    for epoch in range(args.epochs):
        begin, total = time.perf_counter(), 0.0
        for images, targets in loader:
            loss = nn.functional.cross_entropy(classifier(model.backbone(images).mean(dim=(2, 3))), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
        print(f"epoch {epoch + 1}: loss {total / len(loader):.3f}, {time.perf_counter() - begin:.0f} s, {recall()}")


if __name__ == "__main__":
    main()
