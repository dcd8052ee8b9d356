"""tapegrad.optim against torch 2.13: 20-step trajectories from the same weights and data,
state_dict structure and round trips, ``_version`` bumps, errors, and lr schedules."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest

import tapegrad
from tapegrad import nn, optim
from tapegrad.optim import lr_scheduler

torch = pytest.importorskip("torch")


def make_models(rng: np.random.Generator) -> tuple[Any, Any]:
    ours = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)).double()
    theirs = torch.nn.Sequential(
        torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2)
    ).double()
    state = {k: rng.standard_normal(tuple(v.shape)) for k, v in theirs.state_dict().items()}
    theirs.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
    ours.load_state_dict({k: tapegrad.tensor(v) for k, v in state.items()})
    return ours, theirs


def run_trajectory(
    cls_name: str,
    kwargs: dict[str, Any],
    rng: np.random.Generator,
    steps: int = 20,
    groups: bool = False,
) -> None:
    ours, theirs = make_models(rng)
    if groups:
        params_o: Any = [
            {"params": ours[0].parameters()},
            {"params": ours[2].parameters(), "lr": 0.03},
        ]
        params_t: Any = [
            {"params": theirs[0].parameters()},
            {"params": theirs[2].parameters(), "lr": 0.03},
        ]
    else:
        params_o, params_t = ours.parameters(), theirs.parameters()
    opt_o = getattr(optim, cls_name)(params_o, **kwargs)
    opt_t = getattr(torch.optim, cls_name)(params_t, **kwargs)
    for _ in range(steps):
        x = rng.standard_normal((4, 3))
        y = rng.standard_normal((4, 2))
        for model, opt, lib in ((ours, opt_o, tapegrad), (theirs, opt_t, torch)):
            opt.zero_grad()
            loss = ((model(lib.tensor(x)) - lib.tensor(y)) ** 2).mean()
            loss.backward()
            opt.step()
        for (name, p), q in zip(ours.named_parameters(), theirs.parameters(), strict=True):
            np.testing.assert_allclose(
                np.asarray(p.detach()), q.detach().numpy(), rtol=1e-9, atol=1e-12, err_msg=name
            )
            assert p._version == q._version, name
    state_o, state_t = opt_o.state_dict(), opt_t.state_dict()
    assert state_o["param_groups"] == state_t["param_groups"]
    assert list(state_o["state"]) == list(state_t["state"])
    for key, entry in state_t["state"].items():
        assert list(state_o["state"][key]) == list(entry)
        for name, value in entry.items():
            np.testing.assert_allclose(
                np.asarray(state_o["state"][key][name]), value.numpy(), rtol=1e-9, atol=1e-12
            )
            assert (
                str(state_o["state"][key][name].dtype).split(".")[-1]
                == str(value.dtype).split(".")[-1]
            )
    assert repr(opt_o) == repr(opt_t)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lr": 0.1},
        {"lr": 0.05, "momentum": 0.9},
        {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.01},
        {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1},
        {"lr": 0.05, "momentum": 0.5, "maximize": True},
    ],
)
def test_sgd_trajectory_matches_torch(kwargs: dict[str, Any], rng: np.random.Generator) -> None:
    run_trajectory("SGD", kwargs, rng)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lr": 0.01},
        {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.05},
        {"lr": 0.01, "amsgrad": True},
        {"lr": 0.01, "maximize": True, "amsgrad": True, "weight_decay": 0.1},
    ],
)
def test_adam_trajectory_matches_torch(kwargs: dict[str, Any], rng: np.random.Generator) -> None:
    run_trajectory("Adam", kwargs, rng)


@pytest.mark.parametrize(
    "kwargs", [{"lr": 0.01}, {"lr": 0.02, "weight_decay": 0.3, "amsgrad": True}]
)
def test_adamw_trajectory_matches_torch(kwargs: dict[str, Any], rng: np.random.Generator) -> None:
    run_trajectory("AdamW", kwargs, rng)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lr": 0.01},
        {"lr": 0.01, "alpha": 0.9, "eps": 1e-6, "weight_decay": 0.1},
        {"lr": 0.005, "momentum": 0.9},
        {"lr": 0.005, "centered": True, "momentum": 0.5, "maximize": True},
    ],
)
def test_rmsprop_trajectory_matches_torch(kwargs: dict[str, Any], rng: np.random.Generator) -> None:
    run_trajectory("RMSprop", kwargs, rng)


@pytest.mark.parametrize("cls_name", ["SGD", "Adam", "RMSprop"])
def test_param_groups_trajectory_matches_torch(cls_name: str, rng: np.random.Generator) -> None:
    run_trajectory(cls_name, {"lr": 0.01, "weight_decay": 0.01}, rng, steps=5, groups=True)


def test_state_dict_round_trip_continues_the_trajectory(rng: np.random.Generator) -> None:
    ours, _ = make_models(rng)
    twin, _ = make_models(np.random.default_rng(0))
    twin.load_state_dict(ours.state_dict())
    opt = optim.Adam(ours.parameters(), lr=0.01, amsgrad=True)
    x = tapegrad.tensor(rng.standard_normal((4, 3)))

    def step(model: Any, optimizer: Any) -> None:
        optimizer.zero_grad()
        model(x).pow(2).sum().backward()
        optimizer.step()

    for _ in range(3):
        step(ours, opt)
    twin.load_state_dict(ours.state_dict())
    opt_twin = optim.Adam(twin.parameters(), lr=0.5)
    # as in torch, loading shares same-dtype state tensors: copy to keep them apart
    opt_twin.load_state_dict(copy.deepcopy(opt.state_dict()))
    assert opt_twin.param_groups[0]["lr"] == 0.01
    for _ in range(3):
        step(ours, opt)
        step(twin, opt_twin)
    for p, q in zip(ours.parameters(), twin.parameters(), strict=True):
        np.testing.assert_array_equal(np.asarray(p.detach()), np.asarray(q.detach()))
    with pytest.raises(ValueError, match="different number of parameter groups"):
        opt_twin.load_state_dict({"state": {}, "param_groups": []})
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        opt_twin.load_state_dict({"state": {}, "param_groups": [{"params": [0]}]})


def test_load_state_dict_casts_state_to_param_dtype() -> None:
    p32 = nn.Parameter(tapegrad.ones(2))
    p64 = nn.Parameter(tapegrad.ones(2, dtype=tapegrad.float64))
    opt = optim.SGD([p64], lr=0.1, momentum=0.9)
    p64.sum().backward()
    opt.step()
    target = optim.SGD([p32], lr=0.1, momentum=0.9)
    target.load_state_dict(opt.state_dict())
    assert target.state[p32]["momentum_buffer"].dtype is tapegrad.float32


def test_optimizer_errors_match_torch() -> None:
    cases = [
        lambda lib: lib.optim.SGD([lib.nn.Parameter(lib.ones(1))], lr=-1),
        lambda lib: lib.optim.SGD([lib.nn.Parameter(lib.ones(1))], lr=0.1, nesterov=True),
        lambda lib: lib.optim.Adam([lib.nn.Parameter(lib.ones(1))], betas=(1.0, 0.9)),
        lambda lib: lib.optim.RMSprop([lib.nn.Parameter(lib.ones(1))], alpha=-1),
        lambda lib: lib.optim.SGD([], lr=0.1),
        lambda lib: lib.optim.SGD(lib.nn.Parameter(lib.ones(1)), lr=0.1),
        lambda lib: lib.optim.SGD([lib.ones(1, requires_grad=True) * 2], lr=0.1),
        lambda lib: lib.optim.SGD([{"params": {lib.nn.Parameter(lib.ones(1))}}], lr=0.1),
    ]
    for case in cases:
        with pytest.raises(Exception) as expected:
            case(torch)
        with pytest.raises(type(expected.value)) as got:
            case(tapegrad)
        assert (
            str(got.value).replace("tapegrad.", "torch.").split(" but got")[0]
            == str(expected.value).split(" but got")[0]
        )
    p = nn.Parameter(tapegrad.ones(1))
    opt = optim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter"):
        opt.add_param_group({"params": [p]})


def test_add_param_group_zero_grad_and_closure() -> None:
    a, b = nn.Parameter(tapegrad.ones(2)), nn.Parameter(tapegrad.ones(1))
    opt = optim.SGD([a], lr=0.5, momentum=0.9)
    opt.add_param_group({"params": b, "lr": 1.0})
    assert opt.param_groups[1]["momentum"] == 0.9
    assert opt.param_groups[1]["lr"] == 1.0

    def closure() -> Any:
        opt.zero_grad()
        loss = (a.sum() + b.sum()) * 1.0
        loss.backward()
        return loss

    with tapegrad.no_grad():
        loss = opt.step(closure)  # the closure runs with grad enabled, as torch
    assert loss.item() == 3.0
    assert a.tolist() == [0.5, 0.5]
    assert b.tolist() == [0.0]
    opt.zero_grad(set_to_none=False)
    assert a.grad.tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert a.grad is None
    assert b.grad is None


def test_step_runs_without_recording() -> None:
    p = nn.Parameter(tapegrad.ones(2))
    opt = optim.Adam([p], lr=0.1)
    p.sum().backward()
    opt.step()
    assert p.grad_fn is None
    assert p.requires_grad
    assert p.is_leaf


# ----------------------------------------------------------------------------- schedulers
def lr_sequences(make: Any, epochs: int = 12, groups: int = 2) -> tuple[list[Any], list[Any]]:
    out = []
    for lib in (tapegrad, torch):
        params = [
            {"params": [lib.nn.Parameter(lib.ones(1))], "lr": 0.1 * (i + 1)} for i in range(groups)
        ]
        opt = (optim if lib is tapegrad else torch.optim).SGD(params, lr=0.1)
        sched = make(lib, opt)
        seq = [sched.get_last_lr()]
        for _ in range(epochs):
            opt.step()
            sched.step()
            seq.append(sched.get_last_lr())
        out.append((seq, sched.state_dict()))
    return out[0], out[1]


@pytest.mark.parametrize(
    "make",
    [
        lambda lib, opt: _sched(lib).StepLR(opt, step_size=3, gamma=0.5),
        lambda lib, opt: _sched(lib).CosineAnnealingLR(opt, T_max=5, eta_min=0.01),
        lambda lib, opt: _sched(lib).CosineAnnealingLR(opt, T_max=4),
        lambda lib, opt: _sched(lib).LambdaLR(opt, lambda epoch: 1 / (epoch + 1)),
        lambda lib, opt: _sched(lib).LambdaLR(opt, [lambda e: 0.9**e, lambda e: 1.0 + e]),
        lambda lib, opt: _sched(lib).MultiStepLR(opt, milestones=[2, 5, 5], gamma=0.3),
        lambda lib, opt: _sched(lib).ExponentialLR(opt, gamma=0.8),
    ],
    ids=[
        "step",
        "cosine_eta_min",
        "cosine",
        "lambda",
        "lambda_per_group",
        "multistep",
        "exponential",
    ],
)
def test_lr_schedules_match_torch(make: Any) -> None:
    (ours, state_o), (theirs, state_t) = lr_sequences(make)
    np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=1e-12, atol=1e-15)
    assert list(state_o) == list(state_t)
    for key in state_t:
        if key != "lr_lambdas":
            assert state_o[key] == pytest.approx(state_t[key]), key


def _sched(lib: Any) -> Any:
    return lr_scheduler if lib is tapegrad else torch.optim.lr_scheduler


def test_scheduler_state_dict_round_trip_and_warnings() -> None:
    opt = optim.SGD([nn.Parameter(tapegrad.ones(1))], lr=1.0)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    with pytest.warns(UserWarning, match="Detected call of `lr_scheduler.step\\(\\)` before"):
        sched.step()
    for _ in range(3):
        opt.step()
        sched.step()
    state = sched.state_dict()
    opt2 = optim.SGD([nn.Parameter(tapegrad.ones(1))], lr=1.0)
    other = lr_scheduler.CosineAnnealingLR(opt2, T_max=10)
    other.load_state_dict(state)
    assert other.last_epoch == sched.last_epoch == 4
    with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
        sched.get_lr()
    with pytest.raises(KeyError, match="param 'initial_lr' is not specified"):
        lr_scheduler.StepLR(optim.SGD([nn.Parameter(tapegrad.ones(1))], lr=1.0), 2, last_epoch=3)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        lr_scheduler.StepLR(object(), 2)  # type: ignore[arg-type]


def test_scheduler_epoch_argument_uses_closed_form_like_torch() -> None:
    results = []
    for lib, mod in ((tapegrad, lr_scheduler), (torch, torch.optim.lr_scheduler)):
        opt = (optim if lib is tapegrad else torch.optim).SGD(
            [lib.nn.Parameter(lib.ones(1))], lr=1.0
        )
        sched = mod.StepLR(opt, step_size=2, gamma=0.5)
        opt.step()
        with pytest.warns(UserWarning, match="The epoch parameter in `scheduler.step\\(\\)`"):
            sched.step(5)
        results.append(sched.get_last_lr())
    assert results[0] == results[1]
    assert math.isclose(results[0][0], 0.25)
