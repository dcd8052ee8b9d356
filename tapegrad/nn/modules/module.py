"""``Module``: the base class of layers, with torch's registration, state_dict and hooks."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from tapegrad import _dtype
from tapegrad.autograd.grad_mode import inference_mode, no_grad
from tapegrad.nn.parameter import Buffer, Parameter
from tapegrad.tensor import Tensor

__all__ = ["Module", "RemovableHandle", "evaluating"]


class RemovableHandle:
    """Returned by the ``register_*_hook`` methods; ``remove()`` unregisters the hook.

    Example:
        >>> import tapegrad
        >>> m = tapegrad.nn.Identity()
        >>> handle = m.register_forward_hook(lambda mod, args, out: out * 2)
        >>> m(tapegrad.ones(1))
        tensor([2.])
        >>> handle.remove()
        >>> m(tapegrad.ones(1))
        tensor([1.])
    """

    _ids = itertools.count()

    def __init__(self, hooks_dict: dict[int, Any], *extra_dicts: dict[int, Any]) -> None:
        self.hooks_dict = hooks_dict
        self.id = next(RemovableHandle._ids)
        self.extra_dicts = extra_dicts

    def remove(self) -> None:
        self.hooks_dict.pop(self.id, None)
        for extra in self.extra_dicts:
            extra.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *args: object) -> None:
        self.remove()


class _IncompatibleKeys(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return (
            f"_IncompatibleKeys(missing_keys={self.missing_keys}, "
            f"unexpected_keys={self.unexpected_keys})"
        )

    def __str__(self) -> str:
        return self.__repr__()


def _addindent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    first = lines.pop(0)
    return first + "\n" + "\n".join(" " * spaces + line for line in lines)


def _check_name(kind: str, name: Any, module: Module) -> None:
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string. Got {type(name).__name__}")
    if "." in name:
        raise KeyError(f'{kind} name can\'t contain "."')
    if name == "":
        raise KeyError(f'{kind} name can\'t be empty string ""')


class Module:
    """Base class for all neural network modules (torch's ``nn.Module``).

    Assigning a ``Parameter``, a ``Module`` or a registered buffer as an attribute registers
    it (in ``_parameters``, ``_modules`` or ``_buffers``, in assignment order), which is what
    ``parameters()``, ``state_dict()``, ``to()`` and ``train()`` walk.

    Example:
        >>> import tapegrad
        >>> from tapegrad import nn
        >>> class Net(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc = nn.Linear(2, 1)
        ...         self.register_buffer("steps", tapegrad.zeros((), dtype=tapegrad.int64))
        ...     def forward(self, x):
        ...         return self.fc(x)
        >>> net = Net()
        >>> [name for name, _ in net.named_parameters()]
        ['fc.weight', 'fc.bias']
        >>> list(net.state_dict())
        ['steps', 'fc.weight', 'fc.bias']
        >>> net(tapegrad.ones(3, 2)).shape
        tapegrad.Size([3, 1])
    """

    training: bool
    _version: int = 1
    call_super_init: bool = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            raise TypeError(
                f"{type(self).__name__}.__init__() takes 1 positional argument but "
                f"{len(args) + 1} were given"
                if args
                else f"{type(self).__name__}.__init__() got an unexpected keyword argument "
                f"'{next(iter(kwargs))}'"
            )
        set_ = object.__setattr__
        set_(self, "training", True)
        set_(self, "_parameters", {})
        set_(self, "_buffers", {})
        set_(self, "_non_persistent_buffers_set", set())
        set_(self, "_modules", {})
        set_(self, "_forward_pre_hooks", OrderedDict())
        set_(self, "_forward_pre_hooks_with_kwargs", {})
        set_(self, "_forward_hooks", OrderedDict())
        set_(self, "_forward_hooks_with_kwargs", {})
        set_(self, "_forward_hooks_always_called", {})

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Define the computation performed at every call; subclasses override it."""
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )

    # -- calling ------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not (self._forward_pre_hooks or self._forward_hooks):
            return self.forward(*args, **kwargs)
        for key, hook in list(self._forward_pre_hooks.items()):
            if key in self._forward_pre_hooks_with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError(
                            "forward pre-hook must return None or a tuple of (new_args, "
                            f"new_kwargs), but got {result}."
                        )
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        try:
            output = self.forward(*args, **kwargs)
        except BaseException:
            for key, hook in list(self._forward_hooks.items()):
                if key in self._forward_hooks_always_called:
                    try:
                        if key in self._forward_hooks_with_kwargs:
                            hook(self, args, kwargs, None)
                        else:
                            hook(self, args, None)
                    except Exception:  # noqa: S110 (torch ignores errors of always-call hooks here)
                        pass
            raise
        for key, hook in list(self._forward_hooks.items()):
            if key in self._forward_hooks_with_kwargs:
                result = hook(self, args, kwargs, output)
            else:
                result = hook(self, args, output)
            if result is not None:
                output = result
        return output

    def register_forward_pre_hook(
        self, hook: Callable[..., Any], *, prepend: bool = False, with_kwargs: bool = False
    ) -> RemovableHandle:
        """Run ``hook(module, args)`` before ``forward``; it may return new args.

        Example:
            >>> import tapegrad
            >>> m = tapegrad.nn.Identity()
            >>> _ = m.register_forward_pre_hook(lambda mod, args: (args[0] + 1,))
            >>> m(tapegrad.zeros(1))
            tensor([1.])
        """
        handle = RemovableHandle(self._forward_pre_hooks, self._forward_pre_hooks_with_kwargs)
        self._forward_pre_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs[handle.id] = True
        if prepend:
            self._forward_pre_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_forward_hook(
        self,
        hook: Callable[..., Any],
        *,
        prepend: bool = False,
        with_kwargs: bool = False,
        always_call: bool = False,
    ) -> RemovableHandle:
        """Run ``hook(module, args, output)`` after ``forward``; it may return a new output.

        Example:
            >>> import tapegrad
            >>> seen = []
            >>> m = tapegrad.nn.ReLU()
            >>> _ = m.register_forward_hook(lambda mod, args, out: seen.append(out.shape))
            >>> _ = m(tapegrad.zeros(2, 3))
            >>> seen
            [tapegrad.Size([2, 3])]
        """
        handle = RemovableHandle(
            self._forward_hooks, self._forward_hooks_with_kwargs, self._forward_hooks_always_called
        )
        self._forward_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_hooks_with_kwargs[handle.id] = True
        if always_call:
            self._forward_hooks_always_called[handle.id] = True
        if prepend:
            self._forward_hooks.move_to_end(handle.id, last=False)
        return handle

    # -- registration -------------------------------------------------------------------
    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register a tensor that is part of the state but not a parameter (e.g. running mean).

        ``persistent=False`` keeps it out of ``state_dict``.

        Example:
            >>> import tapegrad
            >>> m = tapegrad.nn.Module()
            >>> m.register_buffer("mean", tapegrad.zeros(2))
            >>> m.register_buffer("cache", tapegrad.zeros(2), persistent=False)
            >>> [n for n, _ in m.named_buffers()], list(m.state_dict())
            (['mean', 'cache'], ['mean'])
        """
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"buffer name should be a string. Got {type(name).__name__}")
        if "." in name:
            raise KeyError('buffer name can\'t contain "."')
        if name == "":
            raise KeyError('buffer name can\'t be empty string ""')
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                "(torch Tensor or None required)"
            )
        if isinstance(tensor, Buffer):
            tensor = tensor._tensor  # type: ignore[attr-defined]
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (a ``Parameter`` or None) under ``name``.

        Example:
            >>> import tapegrad
            >>> m = tapegrad.nn.Module()
            >>> m.register_parameter("scale", tapegrad.nn.Parameter(tapegrad.ones(1)))
            >>> [n for n, _ in m.named_parameters()]
            ['scale']
        """
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"parameter name should be a string. Got {type(name).__name__}")
        if "." in name:
            raise KeyError('parameter name can\'t contain "."')
        if name == "":
            raise KeyError('parameter name can\'t be empty string ""')
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is None:
            self._parameters[name] = None
            return
        if not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                "(torch.nn.Parameter or None required)"
            )
        if param.grad_fn is not None:
            raise ValueError(
                f"Cannot assign non-leaf Tensor to parameter '{name}'. Model parameters must "
                "be created explicitly. To express '"
                f"{name}' as a function of another Tensor, compute the value in the forward() "
                "method."
            )
        self._parameters[name] = param

    def add_module(self, name: str, module: Module | None) -> None:
        """Register ``module`` as a child called ``name`` (same as attribute assignment).

        Example:
            >>> from tapegrad import nn
            >>> m = nn.Module()
            >>> m.add_module("act", nn.ReLU())
            >>> m
            Module(
              (act): ReLU()
            )
        """
        if not isinstance(module, Module) and module is not None:
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if not isinstance(name, str):
            raise TypeError(f"module name should be a string. Got {type(name).__name__}")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        if "." in name:
            raise KeyError(f'module name can\'t contain ".", got: {name}')
        if name == "":
            raise KeyError('module name can\'t be empty string ""')
        self._modules[name] = module

    def register_module(self, name: str, module: Module | None) -> None:
        """Alias of ``add_module``.

        Example:
            >>> from tapegrad import nn
            >>> m = nn.Module()
            >>> m.register_module("fc", nn.Linear(1, 1))
            >>> [n for n, _ in m.named_children()]
            ['fc']
        """
        self.add_module(name, module)

    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._discard(name, self.__dict__, self._buffers, self._modules)
            self._non_persistent_buffers_set.discard(name)
            self.register_parameter(name, value)
            return
        if params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{_typename(value)}' as parameter '{name}' "
                    "(torch.nn.Parameter or None expected)"
                )
            self.register_parameter(name, value)
            return
        modules = self.__dict__.get("_modules")
        if isinstance(value, Module):
            if modules is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._discard(name, self.__dict__, self._parameters, self._buffers)
            self._non_persistent_buffers_set.discard(name)
            modules[name] = value
            return
        if modules is not None and name in modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{_typename(value)}' as child module '{name}' "
                    "(torch.nn.Module or None expected)"
                )
            modules[name] = value
            return
        buffers = self.__dict__.get("_buffers")
        if isinstance(value, Buffer) or (buffers is not None and name in buffers):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign '{_typename(value)}' as buffer '{name}' "
                    "(torch.nn.Buffer, torch.Tensor or None expected)"
                )
            if isinstance(value, Buffer):
                persistent = value.persistent  # type: ignore[attr-defined]
            else:
                persistent = name not in self._non_persistent_buffers_set
            self._discard(name, self.__dict__, self._parameters, self._modules)
            self.register_buffer(name, value, persistent)
            return
        object.__setattr__(self, name, value)

    @staticmethod
    def _discard(name: str, *dicts: dict[str, Any]) -> None:
        for d in dicts:
            if name in d:
                del d[name]

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        keys = (
            set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules)
        )
        return sorted(k for k in keys if not k[0].isdigit())

    def get_submodule(self, target: str) -> Module:
        """The submodule at dotted path ``target`` (``""`` is this module).

        Example:
            >>> from tapegrad import nn
            >>> net = nn.Sequential(nn.Sequential(nn.Linear(1, 1)))
            >>> net.get_submodule("0.0")
            Linear(in_features=1, out_features=1, bias=True)
        """
        if target == "":
            return self
        module: Module = self
        for item in target.split("."):
            if not hasattr(module, item):
                raise AttributeError(f"{module._get_name()} has no attribute `{item}`")
            module = getattr(module, item)
            if not isinstance(module, Module):
                raise AttributeError("`" + item + "` is not an nn.Module")
        return module

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at dotted path ``target``.

        Example:
            >>> from tapegrad import nn
            >>> nn.Sequential(nn.Linear(2, 1)).get_parameter("0.bias").shape
            tapegrad.Size([1])
        """
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if not hasattr(module, name):
            raise AttributeError(f"{module._get_name()} has no attribute `{name}`")
        param = getattr(module, name)
        if not isinstance(param, Parameter):
            raise AttributeError("`" + name + "` is not an nn.Parameter")
        return param

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at dotted path ``target``.

        Example:
            >>> from tapegrad import nn
            >>> nn.Sequential(nn.BatchNorm1d(2)).get_buffer("0.running_var")
            tensor([1., 1.])
        """
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if not hasattr(module, name):
            raise AttributeError(f"{module._get_name()} has no attribute `{name}`")
        if name not in module._buffers:
            raise AttributeError("`" + name + "` is not a buffer")
        return module._buffers[name]

    # -- iteration ----------------------------------------------------------------------
    def _named_members(
        self,
        get_members: Callable[[Module], Any],
        prefix: str = "",
        recurse: bool = True,
        remove_duplicate: bool = True,
    ) -> Iterator[tuple[str, Any]]:
        memo: set[int] = set()
        modules = (
            self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
            if recurse
            else [(prefix, self)]
        )
        for module_prefix, module in modules:
            for name, value in get_members(module):
                if value is None or id(value) in memo:
                    continue
                if remove_duplicate:
                    memo.add(id(value))
                yield (module_prefix + ("." if module_prefix else "") + name, value)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Iterate over the parameters (each once), in registration order.

        Example:
            >>> from tapegrad import nn
            >>> sum(p.numel() for p in nn.Linear(3, 2).parameters())
            8
        """
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """Iterate over ``(dotted name, parameter)`` pairs.

        Example:
            >>> from tapegrad import nn
            >>> [n for n, _ in nn.Sequential(nn.Linear(1, 1)).named_parameters()]
            ['0.weight', '0.bias']
        """
        yield from self._named_members(
            lambda m: m._parameters.items(), prefix, recurse, remove_duplicate
        )

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Iterate over the buffers.

        Example:
            >>> from tapegrad import nn
            >>> len(list(nn.BatchNorm1d(3).buffers()))
            3
        """
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        """Iterate over ``(dotted name, buffer)`` pairs.

        Example:
            >>> from tapegrad import nn
            >>> [n for n, _ in nn.BatchNorm1d(3).named_buffers()]
            ['running_mean', 'running_var', 'num_batches_tracked']
        """
        yield from self._named_members(
            lambda m: m._buffers.items(), prefix, recurse, remove_duplicate
        )

    def children(self) -> Iterator[Module]:
        """Iterate over the immediate child modules.

        Example:
            >>> from tapegrad import nn
            >>> list(nn.Sequential(nn.ReLU(), nn.Tanh()).children())
            [ReLU(), Tanh()]
        """
        for _, module in self.named_children():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Iterate over ``(name, child)`` pairs of the immediate children.

        Example:
            >>> from tapegrad import nn
            >>> [n for n, _ in nn.Sequential(nn.ReLU(), nn.Tanh()).named_children()]
            ['0', '1']
        """
        memo: set[int] = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in memo:
                memo.add(id(module))
                yield name, module

    def modules(self) -> Iterator[Module]:
        """Iterate over all modules of the tree, this one first (each once).

        Example:
            >>> from tapegrad import nn
            >>> len(list(nn.Sequential(nn.Linear(1, 1), nn.ReLU()).modules()))
            3
        """
        for _, module in self.named_modules():
            yield module

    def named_modules(
        self, memo: set[Module] | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        """Iterate over ``(dotted name, module)`` pairs, this module first with name ``""``.

        Example:
            >>> from tapegrad import nn
            >>> [n for n, _ in nn.Sequential(nn.Sequential(nn.ReLU())).named_modules()]
            ['', '0', '0.0']
        """
        seen: set[int] = set() if memo is None else {id(m) for m in memo}
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:  # iterative preorder (deep nets never hit the recursion limit)
            name, module = stack.pop()
            if id(module) in seen:
                continue
            if remove_duplicate:
                seen.add(id(module))
                if memo is not None:
                    memo.add(module)
            yield name, module
            children = [
                (name + ("." if name else "") + child_name, child)
                for child_name, child in module._modules.items()
                if child is not None
            ]
            stack.extend(reversed(children))

    # -- modes --------------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode on this module and every descendant; returns ``self``.

        Example:
            >>> from tapegrad import nn
            >>> nn.Dropout().train(False).training
            False
        """
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode (``train(False)``); returns ``self``.

        It does not switch gradients off: see ``tapegrad.nn.evaluating`` for both at once.

        Example:
            >>> from tapegrad import nn
            >>> nn.Sequential(nn.Dropout()).eval()[0].training
            False
        """
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` on every parameter; returns ``self``.

        Example:
            >>> from tapegrad import nn
            >>> m = nn.Linear(1, 1).requires_grad_(False)
            >>> m.weight.requires_grad
            False
        """
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters (to None by default, as in torch).

        Example:
            >>> import tapegrad
            >>> m = tapegrad.nn.Linear(2, 1)
            >>> m(tapegrad.ones(1, 2)).sum().backward()
            >>> m.zero_grad()
            >>> m.weight.grad is None
            True
        """
        for param in self.parameters():
            grad = param.grad
            if grad is None:
                continue
            if set_to_none:
                param.grad = None
            else:
                if grad.grad_fn is not None:
                    grad.detach_()
                else:
                    grad.requires_grad_(False)
                with no_grad():
                    grad.zero_()

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn`` on every submodule (children first) and then on ``self``.

        Example:
            >>> from tapegrad import nn
            >>> names = []
            >>> _ = nn.Sequential(nn.ReLU()).apply(lambda m: names.append(type(m).__name__))
            >>> names
            ['ReLU', 'Sequential']
        """
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # -- conversion ---------------------------------------------------------------------
    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> Module:
        if recurse:
            for module in self.children():
                module._apply(fn)
        with no_grad():
            for param in self._parameters.values():
                if param is None:
                    continue
                converted = fn(param)
                if converted is not param:
                    param.data = converted  # keep the Parameter object (optimizers hold it)
                grad = param.grad
                if grad is not None:
                    converted_grad = fn(grad)
                    if converted_grad is not grad:
                        param._grad = converted_grad.detach()
            for key, buffer in self._buffers.items():
                if buffer is not None:
                    self._buffers[key] = fn(buffer)
        return self

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """Cast floating-point parameters and buffers to a dtype (in place); returns ``self``.

        Devices other than ``"cpu"`` are rejected; integer buffers keep their dtype.

        Example:
            >>> import tapegrad
            >>> m = tapegrad.nn.Linear(2, 2).to(tapegrad.float64)
            >>> m.weight.dtype
            tapegrad.float64
        """
        dtype = kwargs.get("dtype")
        for arg in args:
            if isinstance(arg, _dtype.DType):
                dtype = arg
            elif isinstance(arg, Tensor):
                dtype = arg.dtype
            else:
                Tensor._from_array(_EMPTY).to(arg)  # device validation
        if "device" in kwargs:
            Tensor._from_array(_EMPTY).to(device=kwargs["device"])
        if dtype is None:
            return self
        dtype = _dtype.to_dtype(dtype)
        if not dtype.is_floating_point:
            raise TypeError(
                "nn.Module.to only accepts floating point or complex dtypes, but got desired "
                f"dtype={dtype}"
            )
        return self._apply(lambda t: t.to(dtype) if t.is_floating_point() else t)

    def float(self) -> Module:
        """Cast floating-point parameters and buffers to float32.

        Example:
            >>> import tapegrad
            >>> tapegrad.nn.Linear(1, 1).double().float().weight.dtype
            tapegrad.float32
        """
        return self._apply(lambda t: t.float() if t.is_floating_point() else t)

    def double(self) -> Module:
        """Cast floating-point parameters and buffers to float64.

        Example:
            >>> import tapegrad
            >>> tapegrad.nn.Linear(1, 1).double().bias.dtype
            tapegrad.float64
        """
        return self._apply(lambda t: t.double() if t.is_floating_point() else t)

    def half(self) -> Module:
        """Cast floating-point parameters and buffers to float16.

        Example:
            >>> import tapegrad
            >>> tapegrad.nn.Linear(1, 1).half().weight.dtype
            tapegrad.float16
        """
        return self._apply(lambda t: t.half() if t.is_floating_point() else t)

    def type(self, dst_type: Any) -> Module:
        """Cast all parameters and buffers to ``dst_type``.

        Example:
            >>> import tapegrad
            >>> tapegrad.nn.Linear(1, 1).type(tapegrad.float64).weight.dtype
            tapegrad.float64
        """
        return self._apply(lambda t: t.to(dst_type))

    def cpu(self) -> Module:
        """A no-op (tapegrad runs on the CPU); returns ``self``.

        Example:
            >>> from tapegrad import nn
            >>> m = nn.ReLU()
            >>> m.cpu() is m
            True
        """
        return self

    def cuda(self, device: Any = None) -> Module:
        """Raises: tapegrad has no CUDA backend."""
        raise RuntimeError("tapegrad has no CUDA backend yet")

    # -- state dict ---------------------------------------------------------------------
    def _save_to_state_dict(
        self, destination: dict[str, Any], prefix: str, keep_vars: bool
    ) -> None:
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else param.detach()
        for name, buffer in self._buffers.items():
            if buffer is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = buffer if keep_vars else buffer.detach()

    def state_dict(
        self, *args: Any, destination: Any = None, prefix: str = "", keep_vars: bool = False
    ) -> dict[str, Any]:
        """An ordered dict of every parameter and persistent buffer, by dotted name.

        Values are detached aliases of the live tensors (``keep_vars=True`` keeps them as
        they are). The dict carries torch's ``_metadata`` attribute (module versions).

        Example:
            >>> from tapegrad import nn
            >>> list(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)).state_dict())[-3:]
            ['1.running_mean', '1.running_var', '1.num_batches_tracked']
        """
        if args:  # torch's deprecated positional (destination, prefix, keep_vars)
            destination = args[0]
            if len(args) > 1:
                prefix = args[1]
            if len(args) > 2:
                keep_vars = args[2]
        if destination is None:
            destination = OrderedDict()
            destination._metadata = OrderedDict()
        stack: list[tuple[Module, str]] = [(self, prefix)]
        while stack:
            module, module_prefix = stack.pop()
            metadata = getattr(destination, "_metadata", None)
            if metadata is not None:
                metadata[module_prefix[:-1]] = {"version": module._version}
            module._save_to_state_dict(destination, module_prefix, keep_vars)
            children = [
                (child, module_prefix + name + ".")
                for name, child in module._modules.items()
                if child is not None
            ]
            stack.extend(reversed(children))
        return destination

    def _load_from_state_dict(
        self,
        state_dict: Mapping[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        persistent = {
            k: v for k, v in self._buffers.items() if k not in self._non_persistent_buffers_set
        }
        local_state = {
            k: v
            for k, v in itertools.chain(self._parameters.items(), persistent.items())
            if v is not None
        }
        assign = local_metadata.get("assign_to_params_buffers", False)
        for name, param in local_state.items():
            key = prefix + name
            if key not in state_dict:
                if strict:
                    missing_keys.append(key)
                continue
            value = state_dict[key]
            if not isinstance(value, Tensor):
                error_msgs.append(
                    f'While copying the parameter named "{key}", expected torch.Tensor or '
                    f"Tensor-like object from checkpoint but received {type(value)}"
                )
                continue
            if param.ndim == 0 and value.ndim == 1 and value.shape[0] == 1:
                value = value[0]
            if value.shape != param.shape:
                error_msgs.append(
                    f"size mismatch for {key}: copying a param with shape {value.shape} from "
                    f"checkpoint, the shape in current model is {param.shape}."
                )
                continue
            try:
                with no_grad():
                    if assign:
                        if isinstance(param, Parameter):
                            new = (
                                value
                                if isinstance(value, Parameter)
                                else Parameter(value, requires_grad=param.requires_grad)
                            )
                            setattr(self, name, new)
                        else:
                            setattr(self, name, value)
                    else:
                        param.copy_(value)
            except Exception as error:  # noqa: BLE001 (torch collects copy errors)
                error_msgs.append(
                    f'While copying the parameter named "{key}", whose dimensions in the model '
                    f"are {param.shape} and whose dimensions in the checkpoint are "
                    f"{value.shape}, an exception occurred : {error.args}."
                )
        if strict:
            for key in state_dict:
                if not key.startswith(prefix):
                    continue
                input_name = key[len(prefix) :].split(".", 1)
                if len(input_name) > 1:
                    if input_name[0] not in self._modules:
                        unexpected_keys.append(key)
                elif input_name[0] not in local_state:
                    unexpected_keys.append(key)

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> _IncompatibleKeys:
        """Copy parameters and buffers from ``state_dict`` into this module (in place).

        With ``strict=True`` (the default) missing or unexpected keys raise torch's
        ``RuntimeError("Error(s) in loading state_dict for ...")``; size mismatches always
        raise. Returns the named tuple ``(missing_keys, unexpected_keys)``.

        Example:
            >>> import tapegrad
            >>> a, b = tapegrad.nn.Linear(2, 2), tapegrad.nn.Linear(2, 2)
            >>> b.load_state_dict(a.state_dict())
            <All keys matched successfully>
            >>> bool((a.weight == b.weight).all())
            True
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing_keys: list[str] = []
        unexpected_keys: list[str] = []
        error_msgs: list[str] = []
        metadata = getattr(state_dict, "_metadata", None)
        state_dict = OrderedDict(state_dict)  # hooks may add keys; never touch the caller's
        stack: list[tuple[Module, str]] = [(self, "")]
        while stack:
            module, prefix = stack.pop()
            local_metadata = {} if metadata is None else dict(metadata.get(prefix[:-1], {}))
            if assign:
                local_metadata["assign_to_params_buffers"] = assign
            module._load_from_state_dict(
                state_dict, prefix, local_metadata, True, missing_keys, unexpected_keys, error_msgs
            )
            children = [
                (child, prefix + name + ".")
                for name, child in module._modules.items()
                if child is not None
            ]
            stack.extend(reversed(children))
        if strict:
            if unexpected_keys:
                error_msgs.insert(
                    0,
                    "Unexpected key(s) in state_dict: {}. ".format(
                        ", ".join(f'"{k}"' for k in unexpected_keys)
                    ),
                )
            if missing_keys:
                error_msgs.insert(
                    0,
                    "Missing key(s) in state_dict: {}. ".format(
                        ", ".join(f'"{k}"' for k in missing_keys)
                    ),
                )
        if error_msgs:
            raise RuntimeError(
                "Error(s) in loading state_dict for {}:\n\t{}".format(
                    type(self).__name__, "\n\t".join(error_msgs)
                )
            )
        return _IncompatibleKeys(missing_keys, unexpected_keys)

    # -- printing -----------------------------------------------------------------------
    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        """Extra text shown inside this module's repr (subclasses override it).

        Example:
            >>> from tapegrad import nn
            >>> nn.Linear(2, 3).extra_repr()
            'in_features=2, out_features=3, bias=True'
        """
        return ""

    def __repr__(self) -> str:
        extra_lines = []
        extra = self.extra_repr()
        if extra:
            extra_lines = extra.split("\n")
        child_lines = []
        for key, module in self._modules.items():
            mod_str = _addindent(repr(module), 2)
            child_lines.append("(" + key + "): " + mod_str)
        lines = extra_lines + child_lines
        main = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                main += extra_lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"


_EMPTY = np.zeros((0,), dtype=np.float32)


def _typename(value: Any) -> str:
    if isinstance(value, Tensor):
        return "tapegrad." + value.dtype.legacy_name
    if type(value).__module__ == "builtins":
        return type(value).__name__
    return type(value).__module__ + "." + type(value).__qualname__


class evaluating:  # noqa: N801 (a context manager named like a function, as torch's no_grad)
    """Evaluate ``model``: eval mode plus inference mode (or no_grad), restored on exit.

    ``with tapegrad.nn.evaluating(model):`` calls ``model.eval()`` and enters
    ``tapegrad.inference_mode()`` (``mode="no_grad"`` enters ``tapegrad.no_grad()`` instead,
    for outputs that must later mix with autograd). On exit it restores *each* submodule's
    previous ``training`` flag, so a model that was partly frozen in eval mode comes back
    exactly as it was, and leaves the grad mode as it found it.

    The two switches stay independent underneath, as in torch: ``model.eval()`` only changes
    layer behaviour (Dropout, BatchNorm) and does not disable gradients, and
    ``no_grad``/``inference_mode`` only change autograd recording and leave the layers in
    whatever mode they are in. This helper just flips both, and puts both back.

    Example:
        >>> import tapegrad
        >>> from tapegrad import nn
        >>> model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
        >>> model[1].eval()          # a mixed state: Dropout already in eval mode
        Dropout(p=0.5, inplace=False)
        >>> with nn.evaluating(model):
        ...     out = model(tapegrad.ones(1, 2))
        ...     (model.training, tapegrad.is_inference_mode_enabled())
        (False, True)
        >>> (model.training, model[0].training, model[1].training)
        (True, True, False)
        >>> out.requires_grad
        False
    """

    def __init__(self, model: Module, mode: str = "inference") -> None:
        if mode not in ("inference", "no_grad"):
            raise ValueError(f"evaluating(): mode must be 'inference' or 'no_grad', got {mode!r}")
        if not isinstance(model, Module):
            raise TypeError(f"evaluating(): expected an nn.Module, got {type(model).__name__}")
        self.model = model
        self.mode = mode
        self._stack: list[tuple[list[tuple[Module, bool]], Any]] = []

    def __enter__(self) -> Module:
        flags = [(module, module.training) for module in self.model.modules()]
        self.model.eval()
        grad_ctx = inference_mode() if self.mode == "inference" else no_grad()
        try:
            grad_ctx.__enter__()
        except BaseException:
            _restore(flags)
            raise
        self._stack.append((flags, grad_ctx))
        return self.model

    def __exit__(self, *exc: Any) -> None:
        flags, grad_ctx = self._stack.pop()
        try:
            grad_ctx.__exit__(*exc)
        finally:
            _restore(flags)


def _restore(flags: list[tuple[Module, bool]]) -> None:
    for module, training in flags:
        module.training = training
