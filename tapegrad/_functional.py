"""Functional aliases of Tensor methods: ``tapegrad.exp(x)`` is ``Tensor.exp(x)``.

Kept apart from ``tensor.py`` so that names like ``sum``, ``max`` and ``any`` never shadow the
builtins inside the tensor module.
"""

from tapegrad import tensor as _tensor
from tapegrad.tensor import Tensor, with_out

__all__ = [
    "abs",
    "arange",
    "eye",
    "full",
    "linspace",
    "ones",
    "zeros",
    "cat",
    "concat",
    "concatenate",
    "stack",
    "where",
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

abs = with_out(Tensor.abs, 'abs')
absolute = with_out(Tensor.abs, 'abs')
add = with_out(Tensor.add, 'add')
sub = with_out(Tensor.sub, 'sub')
subtract = with_out(Tensor.sub, 'sub')
mul = with_out(Tensor.mul, 'mul')
multiply = with_out(Tensor.mul, 'mul')
div = with_out(Tensor.div, 'div')
divide = with_out(Tensor.div, 'div')
true_divide = with_out(Tensor.div, 'div')
floor_divide = with_out(Tensor.floor_divide, None)
remainder = with_out(Tensor.remainder, 'remainder')
pow = with_out(Tensor.pow, 'pow')
neg = with_out(Tensor.neg, 'neg')
negative = with_out(Tensor.neg, 'neg')
exp = with_out(Tensor.exp, 'exp')
expm1 = with_out(Tensor.expm1, 'expm1')
log = with_out(Tensor.log, 'log')
log1p = with_out(Tensor.log1p, 'log1p')
log2 = with_out(Tensor.log2, 'log2')
log10 = with_out(Tensor.log10, 'log10')
sqrt = with_out(Tensor.sqrt, 'sqrt')
rsqrt = with_out(Tensor.rsqrt, 'rsqrt')
square = with_out(Tensor.square, 'pow')
reciprocal = with_out(Tensor.reciprocal, 'reciprocal')
sin = with_out(Tensor.sin, 'sin')
cos = with_out(Tensor.cos, 'cos')
tan = with_out(Tensor.tan, 'tan')
tanh = with_out(Tensor.tanh, 'tanh')
sigmoid = with_out(Tensor.sigmoid, 'sigmoid')
relu = Tensor.relu
erf = with_out(Tensor.erf, 'erf')
sign = with_out(Tensor.sign, 'sign')
floor = with_out(Tensor.floor, 'floor')
ceil = with_out(Tensor.ceil, 'ceil')
round = with_out(Tensor.round, 'round')
trunc = with_out(Tensor.trunc, 'trunc')
frac = with_out(Tensor.frac, 'frac')
clamp = with_out(Tensor.clamp, 'clamp')
clip = with_out(Tensor.clamp, 'clamp')
maximum = with_out(Tensor.maximum, 'maximum')
minimum = with_out(Tensor.minimum, 'minimum')
masked_fill = Tensor.masked_fill
lerp = with_out(Tensor.lerp, 'lerp')
addcmul = with_out(Tensor.addcmul, 'addcmul')
addcdiv = with_out(Tensor.addcdiv, 'addcdiv')
eq = with_out(Tensor.eq, None)
ne = with_out(Tensor.ne, None)
lt = with_out(Tensor.lt, None)
le = with_out(Tensor.le, None)
gt = with_out(Tensor.gt, None)
ge = with_out(Tensor.ge, None)
equal = Tensor.equal
allclose = Tensor.allclose
isclose = Tensor.isclose
logical_and = with_out(Tensor.logical_and, None)
logical_or = with_out(Tensor.logical_or, None)
logical_xor = with_out(Tensor.logical_xor, None)
logical_not = with_out(Tensor.logical_not, None)
bitwise_not = with_out(Tensor.bitwise_not, None)
isnan = Tensor.isnan
isinf = Tensor.isinf
isfinite = Tensor.isfinite
sum = with_out(Tensor.sum, 'sum')
mean = with_out(Tensor.mean, 'mean')
prod = with_out(Tensor.prod, 'prod')
var = with_out(Tensor.var, 'var')
std = with_out(Tensor.std, 'std')
amax = with_out(Tensor.amax, 'amax')
amin = with_out(Tensor.amin, 'amin')
max = Tensor.max
min = Tensor.min
argmax = with_out(Tensor.argmax, None)
argmin = with_out(Tensor.argmin, None)
logsumexp = with_out(Tensor.logsumexp, 'logsumexp')
norm = with_out(Tensor.norm, 'linalg_vector_norm')
all = with_out(Tensor.all, None)
any = with_out(Tensor.any, None)
cumsum = with_out(Tensor.cumsum, 'cumsum')
count_nonzero = Tensor.count_nonzero
softmax = Tensor.softmax
log_softmax = Tensor.log_softmax
matmul = with_out(Tensor.matmul, 'matmul')
mm = with_out(Tensor.mm, 'mm')
bmm = with_out(Tensor.bmm, 'bmm')
mv = with_out(Tensor.mv, 'mv')
dot = with_out(Tensor.dot, 'dot')
outer = with_out(Tensor.outer, 'mul')
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
tril = with_out(Tensor.tril, 'tril')
triu = with_out(Tensor.triu, 'triu')
flip = Tensor.flip
fliplr = Tensor.fliplr
flipud = Tensor.flipud
roll = Tensor.roll
tile = Tensor.tile
clone = Tensor.clone
gather = with_out(Tensor.gather, 'gather')
scatter = Tensor.scatter
scatter_add = Tensor.scatter_add
index_select = with_out(Tensor.index_select, 'index_select')
index_add = Tensor.index_add
index_put = Tensor.index_put
masked_select = with_out(Tensor.masked_select, 'masked_select')
nonzero = Tensor.nonzero
argsort = Tensor.argsort
sort = Tensor.sort
topk = Tensor.topk
detach = Tensor.detach

# functions of the tensor module that take out= too
cat = with_out(_tensor.cat, "cat")
concat = with_out(_tensor.cat, "cat")
concatenate = with_out(_tensor.cat, "cat")
stack = with_out(_tensor.stack, "stack")
where = with_out(_tensor.where, "where")
zeros = with_out(_tensor.zeros, "aten::zeros", factory=True)
ones = with_out(_tensor.ones, "aten::ones", factory=True)
full = with_out(_tensor.full, "aten::full", factory=True)
arange = with_out(_tensor.arange, "aten::arange", factory=True)
linspace = with_out(_tensor.linspace, "aten::linspace", factory=True)
eye = with_out(_tensor.eye, "aten::eye", factory=True)
