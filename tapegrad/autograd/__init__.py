"""tapegrad.autograd: mirrors ``torch.autograd`` (backward, grad, modes, Function, gradcheck)."""

from tapegrad._engine import backward, grad
from tapegrad.autograd import anomaly_mode, forward_ad, function, functional, grad_mode, graph
from tapegrad.autograd.anomaly_mode import detect_anomaly, set_detect_anomaly
from tapegrad.autograd.function import Function, FunctionCtx, once_differentiable
from tapegrad.autograd.grad_mode import (
    _force_original_view_tracking,
    _unsafe_preserve_version_counter,
    enable_grad,
    enforce_grad_layout_policy,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    is_multithreading_enabled,
    is_view_replay_enabled,
    no_grad,
    set_grad_enabled,
    set_multithreading_enabled,
)
from tapegrad.autograd.gradcheck import gradcheck, gradgradcheck

__all__ = [
    "_force_original_view_tracking",
    "_unsafe_preserve_version_counter",
    "Function",
    "FunctionCtx",
    "anomaly_mode",
    "backward",
    "detect_anomaly",
    "enable_grad",
    "enforce_grad_layout_policy",
    "forward_ad",
    "function",
    "functional",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "grad_mode",
    "graph",
    "inference_mode",
    "is_grad_enabled",
    "is_inference_mode_enabled",
    "is_multithreading_enabled",
    "is_view_replay_enabled",
    "no_grad",
    "once_differentiable",
    "set_detect_anomaly",
    "set_grad_enabled",
    "set_multithreading_enabled",
]
