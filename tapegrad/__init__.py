"""tapegrad: a pure-Python autograd library on NumPy whose behaviour follows PyTorch."""
