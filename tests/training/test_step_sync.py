"""The training step never reads a value back from the device; the loss is read at intervals (``log_every``)."""

import inspect
import math
from functools import partial
from pathlib import Path

import torch
from _fabricate import tiny_config

import proxygml_lite
from proxygml_lite.training.trainer import Trainer, train

PACKAGE = str(Path(proxygml_lite.__file__).parent)
#: Tensor methods that copy a value to the host (on a GPU each one waits for every queued kernel).
HOST_READS = ("item", "tolist", "cpu", "numpy", "__float__", "__int__", "__bool__", "__index__")


#: Images per class of the tiny dataset (conftest.py's data_root).
TINY_PER_CLASS = 6


def _count_reads_in_steps(monkeypatch, config, validate_in_loop: bool):
    """Run ``config``; count host reads made by the package's own code inside steps, and the read-backs.

    Through the trainer's public hooks: :meth:`Trainer.step` (one step) and :meth:`Trainer.read_losses`.
    """
    state = {"in_step": False, "reads": [], "steps": 0, "flushes": 0}

    def counting(name, original):
        def method(self, *args, **kwargs):
            if state["in_step"]:
                caller = inspect.stack(0)[1]
                if caller.filename.startswith(PACKAGE):
                    state["reads"].append(f"{name} at {Path(caller.filename).name}:{caller.lineno}")
            return original(self, *args, **kwargs)

        return method

    for name in HOST_READS:
        monkeypatch.setattr(torch.Tensor, name, counting(name, getattr(torch.Tensor, name)))
    original_step, original_read = Trainer.step, Trainer.read_losses

    def step(self, images, labels):
        if validate_in_loop and hasattr(self.loss_fn, "validate"):
            self.loss_fn.validate = True  # what the loop did before: the loss checked its values every call
        state["in_step"], state["steps"] = True, state["steps"] + 1
        try:
            return original_step(self, images, labels)
        finally:
            state["in_step"] = False

    def read(self, *args, **kwargs):
        state["flushes"] += bool(self.position.pending)
        return original_read(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "step", step)
    monkeypatch.setattr(Trainer, "read_losses", read)
    train(config)
    return state


#: What this file's runs change in the shared tiny run (_fabricate.tiny_config).
_config = partial(
    tiny_config, batch_size=6, epochs=2, warm=0, compute_nmi=False, eval_untrained=False, recall_ks=(1,), log_every=4
)


def test_the_training_step_reads_nothing_back_and_the_loss_is_read_every_log_every_steps(
    data_root, tmp_path, monkeypatch
):
    state = _count_reads_in_steps(monkeypatch, _config(data_root, tmp_path / "run"), validate_in_loop=False)
    per_epoch = state["steps"] // 2
    assert per_epoch > 4 and state["reads"] == []
    # per epoch: one read-back every 4 steps, and one at the end for the rest
    assert state["flushes"] == 2 * math.ceil(per_epoch / 4)


def test_the_count_sees_the_value_checks_of_a_validating_loss(data_root, tmp_path, monkeypatch):
    """Control: the counter is not blind; ProxyGMLLoss(validate=True) reads labels and finiteness every call."""
    state = _count_reads_in_steps(monkeypatch, _config(data_root, tmp_path / "run"), validate_in_loop=True)
    assert len(state["reads"]) >= 3 * state["steps"]
    assert any("loss.py" in read for read in state["reads"])
