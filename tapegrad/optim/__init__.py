"""tapegrad.optim: optimizers and learning-rate schedulers (mirrors ``torch.optim``)."""

from tapegrad.optim import lr_scheduler
from tapegrad.optim.adam import Adam, AdamW
from tapegrad.optim.optimizer import Optimizer
from tapegrad.optim.rmsprop import RMSprop
from tapegrad.optim.sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "RMSprop", "lr_scheduler"]
