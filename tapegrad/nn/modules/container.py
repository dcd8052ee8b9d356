"""Containers: ``Sequential``, ``ModuleList``, ``ModuleDict``."""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from typing import Any

from tapegrad.nn.modules.module import Module

__all__ = ["ModuleDict", "ModuleList", "Sequential"]


def _index(idx: Any, size: int, kind: str) -> int:
    idx = operator.index(idx)
    if not -size <= idx < size:
        raise IndexError(f"index {idx} is out of range")
    return idx % size


class Sequential(Module):
    """Modules called in order, each on the previous one's output.

    Accepts modules positionally (named ``"0"``, ``"1"``, ...) or one ``OrderedDict``.
    Supports ``len``, indexing, slicing (a new ``Sequential``), ``append``, ``insert``,
    ``extend``, ``pop`` and deletion.

    Example:
        >>> import tapegrad
        >>> from tapegrad import nn
        >>> net = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))
        >>> len(net), net[-1]
        (3, Linear(in_features=4, out_features=1, bias=True))
        >>> net[:2]
        Sequential(
          (0): Linear(in_features=2, out_features=4, bias=True)
          (1): ReLU()
        )
        >>> net(tapegrad.ones(5, 2)).shape
        tapegrad.Size([5, 1])
    """

    def __init__(self, *args: Any) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for key, module in args[0].items():
                self.add_module(key, module)
        else:
            for idx, module in enumerate(args):
                self.add_module(str(idx), module)

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, slice):
            return type(self)(OrderedDict(list(self._modules.items())[idx]))
        index = _index(idx, len(self), "Sequential")
        return next(islice(iter(self._modules.values()), index, None))

    def __setitem__(self, idx: int, module: Module) -> None:
        key = list(self._modules)[_index(idx, len(self), "Sequential")]
        setattr(self, key, module)

    def __delitem__(self, idx: Any) -> None:
        if isinstance(idx, slice):
            for key in list(self._modules)[idx]:
                delattr(self, key)
        else:
            delattr(self, list(self._modules)[_index(idx, len(self), "Sequential")])
        # keep the numbering contiguous, as torch does
        modules = list(self._modules.values())
        self._modules.clear()
        for i, module in enumerate(modules):
            self._modules[str(i)] = module

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __add__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError(
                "add operator supports only objects of Sequential class, but "
                f"{type(other)} is given."
            )
        out = Sequential()
        for module in [*self, *other]:
            out.append(module)
        return out

    def append(self, module: Module) -> Sequential:
        """Append ``module`` at the end; returns ``self``.

        Example:
            >>> from tapegrad import nn
            >>> len(nn.Sequential().append(nn.ReLU()))
            1
        """
        self.add_module(str(len(self)), module)
        return self

    def insert(self, index: int, module: Module) -> Sequential:
        """Insert ``module`` before position ``index``; returns ``self``.

        Example:
            >>> from tapegrad import nn
            >>> nn.Sequential(nn.ReLU()).insert(0, nn.Tanh())[0]
            Tanh()
        """
        if not isinstance(module, Module):
            raise AssertionError(f"module should be of type: {Module}")
        n = len(self._modules)
        if not -n <= index <= n:
            raise IndexError(f"Index out of range: {index}")
        if index < 0:
            index += n
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(modules):
            self._modules[str(i)] = m
        return self

    def extend(self, sequential: Iterable[Module]) -> Sequential:
        """Append every module of ``sequential``; returns ``self``.

        Example:
            >>> from tapegrad import nn
            >>> len(nn.Sequential().extend([nn.ReLU(), nn.Tanh()]))
            2
        """
        for module in sequential:
            self.append(module)
        return self

    def pop(self, key: int | slice) -> Module:
        """Remove and return the module at ``key``.

        Example:
            >>> from tapegrad import nn
            >>> nn.Sequential(nn.ReLU(), nn.Tanh()).pop(0)
            ReLU()
        """
        module = self[key]
        del self[key]
        return module

    def forward(self, input: Any) -> Any:
        for module in self._modules.values():
            input = module(input)  # noqa: A001 (torch's parameter name)
        return input


class ModuleList(Module):
    """A list of modules, registered so that ``parameters()`` and ``state_dict()`` see them.

    Example:
        >>> from tapegrad import nn
        >>> layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
        >>> layers.append(nn.ReLU())
        ModuleList(
          (0-2): 3 x Linear(in_features=2, out_features=2, bias=True)
          (3): ReLU()
        )
        >>> len(list(layers.parameters()))
        6
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, slice):
            return type(self)(list(self._modules.values())[idx])
        return self._modules[str(_index(idx, len(self), "ModuleList"))]

    def __setitem__(self, idx: int, module: Module) -> None:
        setattr(self, str(_index(idx, len(self), "ModuleList")), module)

    def __delitem__(self, idx: Any) -> None:
        if isinstance(idx, slice):
            for k in range(len(self._modules))[idx]:
                delattr(self, str(k))
        else:
            delattr(self, str(_index(idx, len(self), "ModuleList")))
        modules = list(self._modules.values())
        self._modules.clear()
        for i, module in enumerate(modules):
            self._modules[str(i)] = module

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList([*self, *other])

    def append(self, module: Module) -> ModuleList:
        """Append ``module``; returns ``self``.

        Example:
            >>> from tapegrad import nn
            >>> len(nn.ModuleList().append(nn.ReLU()))
            1
        """
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Append every module of ``modules``; returns ``self``.

        Example:
            >>> from tapegrad import nn
            >>> len(nn.ModuleList().extend([nn.ReLU(), nn.Tanh()]))
            2
        """
        if not isinstance(modules, Iterable):
            raise TypeError(
                "ModuleList.extend should be called with an iterable, but got "
                + type(modules).__name__
            )
        offset = len(self)
        for i, module in enumerate(modules):
            self.add_module(str(offset + i), module)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Insert ``module`` before ``index``.

        Example:
            >>> from tapegrad import nn
            >>> layers = nn.ModuleList([nn.ReLU()])
            >>> layers.insert(0, nn.Tanh())
            >>> layers[0]
            Tanh()
        """
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(modules):
            self.add_module(str(i), m)

    def pop(self, key: int | slice) -> Module:
        """Remove and return the module at ``key``.

        Example:
            >>> from tapegrad import nn
            >>> nn.ModuleList([nn.ReLU(), nn.Tanh()]).pop(1)
            Tanh()
        """
        module = self[key]
        del self[key]
        return module

    def __repr__(self) -> str:
        # torch groups runs of identical reprs: "(0-2): 3 x Linear(...)"
        reprs = [repr(m) for m in self]
        if not reprs:
            return self._get_name() + "()"
        lines = []
        start = 0
        for end in range(1, len(reprs) + 1):
            if end == len(reprs) or reprs[end] != reprs[start]:
                text = reprs[start]
                indented = "\n".join(
                    ("  " + line) if i else line for i, line in enumerate(text.split("\n"))
                )
                if end - start == 1:
                    lines.append(f"({start}): {indented}")
                else:
                    lines.append(f"({start}-{end - 1}): {end - start} x {indented}")
                start = end
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(Module):
    """An ordered dict of modules, registered under their keys.

    Example:
        >>> from tapegrad import nn
        >>> heads = nn.ModuleDict({"cls": nn.Linear(4, 3), "box": nn.Linear(4, 2)})
        >>> list(heads.keys()), heads["box"].out_features
        (['cls', 'box'], 2)
        >>> "cls" in heads
        True
    """

    def __init__(self, modules: Mapping[str, Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def clear(self) -> None:
        """Remove every module.

        Example:
            >>> from tapegrad import nn
            >>> d = nn.ModuleDict({"a": nn.ReLU()})
            >>> d.clear()
            >>> len(d)
            0
        """
        self._modules.clear()

    def pop(self, key: str) -> Module:
        """Remove and return the module under ``key``.

        Example:
            >>> from tapegrad import nn
            >>> nn.ModuleDict({"a": nn.ReLU()}).pop("a")
            ReLU()
        """
        module = self[key]
        del self[key]
        return module

    def keys(self) -> Any:
        """The keys, in insertion order.

        Example:
            >>> from tapegrad import nn
            >>> list(nn.ModuleDict({"a": nn.ReLU()}).keys())
            ['a']
        """
        return self._modules.keys()

    def items(self) -> Any:
        """``(key, module)`` pairs.

        Example:
            >>> from tapegrad import nn
            >>> list(nn.ModuleDict({"a": nn.ReLU()}).items())
            [('a', ReLU())]
        """
        return self._modules.items()

    def values(self) -> Any:
        """The modules.

        Example:
            >>> from tapegrad import nn
            >>> list(nn.ModuleDict({"a": nn.ReLU()}).values())
            [ReLU()]
        """
        return self._modules.values()

    def update(self, modules: Any) -> None:
        """Add or replace modules from a mapping or an iterable of ``(key, module)`` pairs.

        Example:
            >>> from tapegrad import nn
            >>> d = nn.ModuleDict()
            >>> d.update([("a", nn.ReLU())])
            >>> list(d)
            ['a']
        """
        if isinstance(modules, Mapping | ModuleDict):
            for key, module in modules.items():
                self[key] = module
        else:
            for j, item in enumerate(modules):
                if not isinstance(item, tuple | list) or len(item) != 2:
                    raise ValueError(
                        f"ModuleDict update sequence element #{j} should be "
                        "Iterable; is" + type(item).__name__
                    )
                self[item[0]] = item[1]
