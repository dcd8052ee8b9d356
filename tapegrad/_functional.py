"""Functional aliases of Tensor methods: ``tapegrad.exp(x)`` is ``Tensor.exp(x)``.

Kept apart from ``tensor.py`` so that names like ``sum``, ``max`` and ``any`` never shadow the
builtins inside the tensor module.
"""

from tapegrad.tensor import Tensor

__all__ = [
    "abs",
    "absolute",
    "add",
    "addcdiv",
    "addcmul",
    "all",
    "allclose",
    "amax",
    "amin",
    "any",
    "argmax",
    "argmin",
    "argsort",
    "bitwise_not",
    "bmm",
    "ceil",
    "chunk",
    "clamp",
    "clip",
    "clone",
    "cos",
    "count_nonzero",
    "cumsum",
    "detach",
    "diag",
    "diagonal",
    "div",
    "divide",
    "dot",
    "eq",
    "equal",
    "erf",
    "exp",
    "expm1",
    "flatten",
    "flip",
    "fliplr",
    "flipud",
    "floor",
    "floor_divide",
    "frac",
    "gather",
    "ge",
    "gt",
    "index_add",
    "index_put",
    "index_select",
    "isclose",
    "isfinite",
    "isinf",
    "isnan",
    "le",
    "lerp",
    "log",
    "log10",
    "log1p",
    "log2",
    "log_softmax",
    "logical_and",
    "logical_not",
    "logical_or",
    "logical_xor",
    "logsumexp",
    "lt",
    "masked_fill",
    "masked_select",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "mm",
    "moveaxis",
    "movedim",
    "mul",
    "multiply",
    "mv",
    "narrow",
    "ne",
    "neg",
    "negative",
    "nonzero",
    "norm",
    "outer",
    "permute",
    "pow",
    "prod",
    "reciprocal",
    "relu",
    "remainder",
    "reshape",
    "roll",
    "round",
    "rsqrt",
    "scatter",
    "scatter_add",
    "select",
    "sigmoid",
    "sign",
    "sin",
    "softmax",
    "sort",
    "split",
    "sqrt",
    "square",
    "squeeze",
    "std",
    "sub",
    "subtract",
    "sum",
    "swapaxes",
    "swapdims",
    "t",
    "tan",
    "tanh",
    "tile",
    "topk",
    "transpose",
    "tril",
    "triu",
    "true_divide",
    "trunc",
    "unbind",
    "unflatten",
    "unsqueeze",
    "var",
]

abs = Tensor.abs
absolute = Tensor.abs
add = Tensor.add
sub = Tensor.sub
subtract = Tensor.sub
mul = Tensor.mul
multiply = Tensor.mul
div = Tensor.div
divide = Tensor.div
true_divide = Tensor.div
floor_divide = Tensor.floor_divide
remainder = Tensor.remainder
pow = Tensor.pow
neg = Tensor.neg
negative = Tensor.neg
exp = Tensor.exp
expm1 = Tensor.expm1
log = Tensor.log
log1p = Tensor.log1p
log2 = Tensor.log2
log10 = Tensor.log10
sqrt = Tensor.sqrt
rsqrt = Tensor.rsqrt
square = Tensor.square
reciprocal = Tensor.reciprocal
sin = Tensor.sin
cos = Tensor.cos
tan = Tensor.tan
tanh = Tensor.tanh
sigmoid = Tensor.sigmoid
relu = Tensor.relu
erf = Tensor.erf
sign = Tensor.sign
floor = Tensor.floor
ceil = Tensor.ceil
round = Tensor.round
trunc = Tensor.trunc
frac = Tensor.frac
clamp = Tensor.clamp
clip = Tensor.clamp
maximum = Tensor.maximum
minimum = Tensor.minimum
masked_fill = Tensor.masked_fill
lerp = Tensor.lerp
addcmul = Tensor.addcmul
addcdiv = Tensor.addcdiv
eq = Tensor.eq
ne = Tensor.ne
lt = Tensor.lt
le = Tensor.le
gt = Tensor.gt
ge = Tensor.ge
equal = Tensor.equal
allclose = Tensor.allclose
isclose = Tensor.isclose
logical_and = Tensor.logical_and
logical_or = Tensor.logical_or
logical_xor = Tensor.logical_xor
logical_not = Tensor.logical_not
bitwise_not = Tensor.bitwise_not
isnan = Tensor.isnan
isinf = Tensor.isinf
isfinite = Tensor.isfinite
sum = Tensor.sum
mean = Tensor.mean
prod = Tensor.prod
var = Tensor.var
std = Tensor.std
amax = Tensor.amax
amin = Tensor.amin
max = Tensor.max
min = Tensor.min
argmax = Tensor.argmax
argmin = Tensor.argmin
logsumexp = Tensor.logsumexp
norm = Tensor.norm
all = Tensor.all
any = Tensor.any
cumsum = Tensor.cumsum
count_nonzero = Tensor.count_nonzero
softmax = Tensor.softmax
log_softmax = Tensor.log_softmax
matmul = Tensor.matmul
mm = Tensor.mm
bmm = Tensor.bmm
mv = Tensor.mv
dot = Tensor.dot
outer = Tensor.outer
reshape = Tensor.reshape
flatten = Tensor.flatten
unflatten = Tensor.unflatten
permute = Tensor.permute
transpose = Tensor.transpose
swapaxes = Tensor.transpose
swapdims = Tensor.transpose
t = Tensor.t
squeeze = Tensor.squeeze
unsqueeze = Tensor.unsqueeze
movedim = Tensor.movedim
moveaxis = Tensor.movedim
narrow = Tensor.narrow
select = Tensor.select
unbind = Tensor.unbind
split = Tensor.split
chunk = Tensor.chunk
diagonal = Tensor.diagonal
diag = Tensor.diag
tril = Tensor.tril
triu = Tensor.triu
flip = Tensor.flip
fliplr = Tensor.fliplr
flipud = Tensor.flipud
roll = Tensor.roll
tile = Tensor.tile
clone = Tensor.clone
gather = Tensor.gather
scatter = Tensor.scatter
scatter_add = Tensor.scatter_add
index_select = Tensor.index_select
index_add = Tensor.index_add
index_put = Tensor.index_put
masked_select = Tensor.masked_select
nonzero = Tensor.nonzero
argsort = Tensor.argsort
sort = Tensor.sort
topk = Tensor.topk
detach = Tensor.detach
