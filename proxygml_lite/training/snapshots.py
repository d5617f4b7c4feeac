"""Embedding snapshots: the embeddings of fixed samples after every epoch (``--save-embeddings``), beside the proxies.

``<out>/embeddings/epoch_<e>.pt`` holds ``{"epoch", "num_classes", "splits":
{"train" | "test": {"embeddings" (n, d) float32, "labels" (n,), "indices"
(n,)}}}``; the training labels ``0..C-1`` index the proxy rows ``c*N ..
c*N+N-1``; ``epoch`` counts finished epochs (0 = before training), like the
proxy snapshots. Read them with
:func:`proxygml_lite.studies.plots.read_embedding_snapshots`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from ..atomic_writers import atomic_torch_save
from ..registry import DATASETS
from .config import TrainConfig
from .evaluate import extract_embeddings

__all__ = ["EMBEDDING_DIR", "EmbeddingSnapshots"]

EMBEDDING_DIR = "embeddings"


class EmbeddingSnapshots:
    """The fixed samples of a run's embedding snapshots, chosen once; :meth:`save` writes one snapshot."""

    def __init__(self, config: TrainConfig, test_set) -> None:
        self.config = config
        self.test_set = test_set
        self._parts: dict[str, tuple[torch.Tensor, torch.Tensor, DataLoader]] | None = None

    def parts(self) -> dict[str, tuple[torch.Tensor, torch.Tensor, DataLoader]]:
        """``{split: (indices, labels, loader)}``.

        ``embedding_samples`` samples of each split (all if ``None`` or more
        than the split holds), chosen once with a generator seeded by
        ``seed`` (independent of the training RNG, so ``save_embeddings``
        never changes a run's trajectory). The training samples go through
        the test-time transform (no augmentation).
        """
        if self._parts is None:
            from ..data import load_dataset
            from ..models import build_transforms

            cfg = self.config
            options = dict(cfg.dataset_options)
            if DATASETS.get(cfg.dataset).options.get("takes_options"):
                options["progress"] = False
            plain_tf = build_transforms(cfg.backbone, train=False, image_size=cfg.image_size)
            train_plain = load_dataset(cfg.dataset, data_root=cfg.data, split="train", transform=plain_tf, **options)
            choose = torch.Generator().manual_seed(cfg.seed)
            parts = {}
            for split, dataset in (("train", train_plain), ("test", self.test_set)):
                n = len(dataset)
                wanted = cfg.embedding_samples
                if wanted is None or wanted >= n:
                    indices = torch.arange(n)
                else:
                    indices = torch.randperm(n, generator=choose)[:wanted].sort().values
                labels = torch.as_tensor([int(dataset.targets[i]) for i in indices.tolist()], dtype=torch.long)
                loader = DataLoader(
                    Subset(dataset, indices.tolist()),
                    batch_size=cfg.eval_batch_size,
                    num_workers=0,
                    generator=torch.Generator(),  # own generator: no global RNG draw
                )
                parts[split] = (indices, labels, loader)
            self._parts = parts
        return self._parts

    def save(
        self,
        path,
        epoch: int,
        model: nn.Module,
        num_classes: int,
        device: torch.device,
        amp_dtype: torch.dtype | None = None,
        channels_last: bool = False,
    ) -> None:
        """Write ``path/embeddings/epoch_<epoch>.pt`` with the current ``model``'s embeddings of the fixed samples."""
        splits = {}
        for split, (indices, labels, loader) in self.parts().items():
            emb, _ = extract_embeddings(model, loader, device, amp_dtype, channels_last)
            splits[split] = {"embeddings": emb, "labels": labels, "indices": indices}
        snapshot = {"epoch": epoch, "num_classes": num_classes, "splits": splits}
        atomic_torch_save(snapshot, path / EMBEDDING_DIR / f"epoch_{epoch:03d}.pt")
