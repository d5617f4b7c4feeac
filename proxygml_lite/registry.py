"""One registry for the losses, datasets and backbones: every name the package accepts is registered here once.

The command line's choices, the presets, :func:`~proxygml_lite.baselines.build_loss`,
the efficiency helper, the toy trainer, ``load_dataset``, the data command
line and ``build_model`` all read these three registries, so a name added
here (from the package or from your own code) is known everywhere::

    from proxygml_lite import register_loss
    from proxygml_lite.training import config_from_preset, train

    register_loss("mine", lambda num_classes, embedding_dim, **kwargs: MyLoss(num_classes, embedding_dim, **kwargs))
    train(config_from_preset("glyphs", loss="mine"))

From the command line, put the registration in a module of your own and
import it: ``python -m proxygml_lite.train --import mymodule --loss mine``.

**The loss contract** (what the trainer, the efficiency helper and the toy
trainer rely on, nothing more):

* the factory is called as ``factory(num_classes=C, embedding_dim=d, **kwargs)``
  (``kwargs``: ``--loss-kwargs``; ProxyGML also gets ``N``, ``r``, ``lambda``, ...
  from the config, see :func:`proxygml_lite.training.setup.loss_arguments`) and
  returns an ``nn.Module``;
* ``loss_fn(embeddings, labels) -> scalar tensor``, for L2-normalised
  embeddings ``(B, d)`` and int64 labels ``(B,)`` in ``0..C-1``;
* every parameter of the module (ProxyGML: the ``C*N`` proxies ``P``) is
  trained in the optimiser's parameter group named ``"proxies"``, at the proxy
  learning rate ``--centerlr``;
* optional ``terms() -> {name: detached scalar tensor}``: named parts of the
  last call, logged as columns of ``metrics.csv`` (ProxyGML:
  ``{"loss_s": L^s, "loss_p": L^p}``);
* optional ``validate`` attribute (bool): value checks that cost a
  device-to-host synchronisation (label range, NaN/Inf). The trainer sets it to
  ``False`` (it checks the labels once, before training);
* optional ``proxies`` tensor ``(C*N, d)`` (rows of class ``c`` first), used by
  the toy trainer's plots and ``--save-proxies``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Entry",
    "Registry",
    "LOSSES",
    "DATASETS",
    "BACKBONES",
    "register_loss",
    "register_dataset",
    "register_backbone",
    "import_modules",
    "replaced_builtins",
    "LossContractError",
    "LOSS_CONTRACT",
]

#: The loss contract in one line, for the errors of a loss that breaks it.
LOSS_CONTRACT = (
    "factory(num_classes=C, embedding_dim=d, **kwargs) returns an nn.Module, and loss_fn(embeddings, labels) "
    "returns a floating scalar tensor with a gradient"
)


class LossContractError(ValueError):
    """A registered loss broke the loss contract (above); the message names the loss and the contract."""


@dataclass(frozen=True)
class Entry:
    """One registered name: ``factory`` builds the thing, ``options`` say how the package uses it."""

    name: str
    factory: Callable[..., Any]
    aliases: tuple[str, ...] = ()
    description: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)


class Registry:
    """Names -> :class:`Entry`, with aliases, in registration order.

    The package's own entries are registered by the modules that implement
    them (``builtin_modules``), imported on the first lookup, so importing the
    registry stays cheap and the names are written once, where they are
    implemented.
    """

    def __init__(self, kind: str, builtin_modules: tuple[str, ...]) -> None:
        self.kind = kind
        self._builtin_modules = builtin_modules
        self._builtins_loaded = False
        self._entries: dict[str, Entry] = {}
        self._aliases: dict[str, str] = {}
        self._builtin_names: set[str] = set()
        #: The package's own names that a registration with ``replace=True`` redefined (recorded in config.json).
        self.replaced_builtins: set[str] = set()

    def _load_builtins(self) -> None:
        if not self._builtins_loaded:
            self._builtins_loaded = True  # first: the modules register while being imported
            for module in self._builtin_modules:
                importlib.import_module(module)

    def register(
        self,
        name: str,
        factory: Callable[..., Any] | None = None,
        *,
        aliases: tuple[str, ...] | list[str] = (),
        description: str = "",
        replace: bool = False,
        **options: Any,
    ):
        """Register ``factory`` under ``name`` (and ``aliases``); returns the factory.

        Without ``factory`` it returns a decorator. ``replace=True`` allows
        re-registering a name (e.g. re-running a notebook cell, or redefining
        a built-in one such as ``"glyphs"``: :attr:`replaced_builtins`);
        otherwise a taken name is an error. A registration from outside the
        package loads the package's own names first, so that it meets them
        now rather than breaking their (lazy) registration later.
        """
        if factory is None:
            return lambda f: self.register(
                name, f, aliases=aliases, description=description, replace=replace, **options
            )
        if not isinstance(name, str) or not name.strip() or name != name.strip():
            raise ValueError(f"a {self.kind} name must be a non-empty string without spaces at the ends; got {name!r}")
        if not callable(factory):
            raise ValueError(f"the factory of {self.kind} {name!r} must be callable; got {factory!r}")
        builtin = str(getattr(factory, "__module__", "") or "").startswith("proxygml_lite.")
        if not builtin:
            self._load_builtins()
        aliases = tuple(aliases)
        for key in (name, *aliases):
            owner = self._aliases.get(key, key if key in self._entries else None)
            if owner is not None and not (replace and owner == name):
                raise ValueError(
                    f"{self.kind} name {key!r} is already registered (as {owner!r}); choose another name or "
                    f"pass replace=True to redefine {owner!r}"
                )
        if replace:
            if name in self._builtin_names and not builtin:
                self.replaced_builtins.add(name)
            self.unregister(name, missing_ok=True)
        if builtin:
            self._builtin_names.add(name)
            self.replaced_builtins.discard(name)  # the package's own entry is back
        self._entries[name] = Entry(name, factory, aliases, description, dict(options))
        for alias in aliases:
            self._aliases[alias] = name
        return factory

    def unregister(self, name: str, missing_ok: bool = False) -> None:
        """Remove ``name`` and its aliases (e.g. at the end of a test)."""
        entry = self._entries.pop(name, None)
        if entry is None:
            if missing_ok:
                return
            raise ValueError(f"{self.kind} {name!r} is not registered")
        for alias in entry.aliases:
            self._aliases.pop(alias, None)

    def canonical(self, name: str) -> str:
        """The registered name of ``name`` (an alias resolves to its name); ValueError listing the choices."""
        self._load_builtins()
        if isinstance(name, str):
            name = self._aliases.get(name, name)
            if name in self._entries:
                return name
        raise ValueError(
            f"unknown {self.kind} {name!r}; choose one of {', '.join(self.choices())}"
            + (" (or register your own with proxygml_lite.register_" + self.kind + ")")
        )

    def get(self, name: str) -> Entry:
        """The :class:`Entry` of ``name`` (or of the name an alias points to)."""
        return self._entries[self.canonical(name)]

    def _ordered(self) -> list[Entry]:
        """The entries: the package's own in the order of ``builtin_modules``, then the user's, each group in
        registration order (so the order does not depend on which module happened to be imported first)."""
        self._load_builtins()

        def rank(entry: Entry) -> int:
            module = str(getattr(entry.factory, "__module__", "") or "")
            for index, builtin in enumerate(self._builtin_modules):
                if module == builtin or module.startswith(builtin + "."):
                    return index
            return len(self._builtin_modules)

        return sorted(self._entries.values(), key=rank)

    def names(self) -> tuple[str, ...]:
        """Registered names (without aliases): the package's own first, in a fixed order, then the user's."""
        return tuple(entry.name for entry in self._ordered())

    def choices(self) -> tuple[str, ...]:
        """Names and aliases, each name followed by its aliases (the command line's choices)."""
        return tuple(key for entry in self._ordered() for key in (entry.name, *entry.aliases))

    def __contains__(self, name: object) -> bool:
        self._load_builtins()
        return isinstance(name, str) and (name in self._entries or name in self._aliases)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self.choices())})"


#: Loss name -> factory ``(num_classes, embedding_dim, **kwargs) -> nn.Module`` (see the loss contract above).
LOSSES = Registry("loss", ("proxygml_lite.loss", "proxygml_lite.baselines"))
#: Dataset name -> loader ``(data_root, split, transform=None, **options) -> Dataset``.
DATASETS = Registry("dataset", ("proxygml_lite.data",))
#: Backbone name -> factory ``(in_channels) -> nn.Module`` (image features of size ``options["feature_dim"]``).
BACKBONES = Registry("backbone", ("proxygml_lite.models",))


def register_loss(
    name: str,
    factory: Callable[..., Any] | None = None,
    *,
    description: str = "",
    replace: bool = False,
):
    """Register a loss: ``factory(num_classes, embedding_dim, **kwargs) -> nn.Module`` (the loss contract above).

    Args:
        name: the ``--loss`` / ``TrainConfig.loss`` name.
        factory: called with ``num_classes`` (``C``, found in the data),
            ``embedding_dim`` (``d``) and the keyword arguments of ``--loss-kwargs``
            (ProxyGML alone also takes ``N``, ``r``, ``lambda``, ... from the config:
            :func:`proxygml_lite.training.setup.loss_arguments`).
            Without it, ``register_loss`` returns a decorator.
        description: one line for ``--help``.
        replace: allow re-registering ``name``.
    """
    return LOSSES.register(name, factory, description=description, replace=replace)


def register_dataset(
    name: str,
    loader: Callable[..., Any] | None = None,
    *,
    aliases: tuple[str, ...] = (),
    takes_options: bool = False,
    preset: Mapping[str, Any] | None = None,
    description: str = "",
    replace: bool = False,
):
    """Register a dataset: ``loader(data_root, split, transform=None, **options) -> Dataset``.

    The dataset must give ``ds[i] -> (image, target)``, ``ds.num_classes`` and
    targets in ``0..num_classes-1`` (see :func:`proxygml_lite.data.load_dataset`).

    Args:
        name: the ``--dataset`` name; ``aliases``: other names for it (``sop``).
        takes_options: the loader accepts ``progress`` and generation options
            (``--dataset-options``), like ``glyphs``; otherwise options are an error.
        preset: ``TrainConfig`` settings of this dataset's preset, over the
            defaults (the paper's recipe); the package's own presets are in
            :data:`proxygml_lite.training.presets.PRESETS`.
    """
    return DATASETS.register(
        name,
        loader,
        aliases=aliases,
        description=description,
        replace=replace,
        takes_options=bool(takes_options),
        preset=dict(preset or {}),
    )


def register_backbone(
    name: str,
    factory: Callable[..., Any] | None = None,
    *,
    feature_dim: int,
    transforms: Callable[..., Any],
    image_size: int,
    min_image_size: int = 8,
    channels: tuple[int, ...] = (3,),
    load_weights: Callable[..., Any] | None = None,
    pretrained_by_default: bool = False,
    check_image_size: Callable[[int], str | None] | None = None,
    description: str = "",
    replace: bool = False,
):
    """Register a backbone: ``factory(in_channels) -> nn.Module`` mapping images to ``(B, feature_dim)`` features.

    :func:`proxygml_lite.models.build_model` adds global pooling (when the
    features are maps), the embedding layer ``Linear(feature_dim, d)`` and the
    L2 normalisation.

    Args:
        feature_dim: ``F``, the size of the backbone's features.
        transforms: ``transforms(train, image_size, in_channels) -> callable``
            (PIL image -> tensor), matching the backbone's pretraining.
        image_size: default input side; ``min_image_size``: the smallest accepted.
        channels: accepted ``in_channels``, the first is the default.
        load_weights: ``load_weights(backbone, source) -> LoadReport`` where
            ``source`` is ``True`` (the published weights), a path or a state
            dict; ``None``: the backbone has no published weights.
        pretrained_by_default: the backbone has published weights, which
            ``pretrained=True`` loads and the trainer uses by default
            (``pretrained=None``), like bninception and resnet50.
        check_image_size: ``check(size) -> error message or None`` for sizes
            the backbone cannot take beyond the minimum.
    """
    return BACKBONES.register(
        name,
        factory,
        description=description,
        replace=replace,
        feature_dim=int(feature_dim),
        transforms=transforms,
        image_size=int(image_size),
        min_image_size=int(min_image_size),
        channels=tuple(channels),
        load_weights=load_weights,
        pretrained_by_default=bool(pretrained_by_default),
        check_image_size=check_image_size,
    )


def replaced_builtins() -> dict[str, list[str]]:
    """``{kind: [names]}`` of the package's own names redefined with ``replace=True`` (empty when none)."""
    return {r.kind: sorted(r.replaced_builtins) for r in (LOSSES, DATASETS, BACKBONES) if r.replaced_builtins}


def import_modules(modules) -> None:
    """Import each module of ``modules`` (their registrations run); ValueError naming a module that fails."""
    for module in modules or ():
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ValueError(
                f"--import {module}: cannot import it ({exc}). Pass a module importable from the current "
                "directory or the PYTHONPATH, e.g. --import mylosses for ./mylosses.py"
            ) from None
        except SystemExit as exc:  # sys.exit() at module level would end the run without a word
            raise ValueError(
                f"--import {module}: the module exited (sys.exit({exc.code!r})) while being imported. "
                'Put its exit under `if __name__ == "__main__":` so importing it only registers, or drop --import'
            ) from None
        except KeyboardInterrupt:  # Ctrl-C while a slow module loads: nothing has started yet
            raise ValueError(
                f"--import {module}: interrupted while importing it (Ctrl-C, or the module raised "
                "KeyboardInterrupt); nothing was trained or written: run the command again"
            ) from None
        except Exception as exc:  # the module itself fails: say where, not a traceback through the package
            where = ""
            tb = exc.__traceback__
            while tb is not None:
                where = f" at {tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"
                tb = tb.tb_next
            raise ValueError(
                f"--import {module}: the module raised {type(exc).__name__}: {exc}{where}. "
                "Fix the module (run `python -c 'import " + module + "'` to see the traceback), or drop --import"
            ) from None
