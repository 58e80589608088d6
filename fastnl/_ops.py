"""One declaration per elementwise activation: the table everything else reads.

Pure data (no import of fastnl, NumPy or anything compiled), so that setup.py
can read it before the kernels exist. From it come:

- the kernels' loops and the NumPy ufuncs (``_elementwise.pyx.tp``, expanded by
  setup.py with ``KERNELS`` and ``UFUNCS``), over the scalar C math of
  ``fnl_activations.h`` (``fnl_<kernel>_<f|d>`` and ``..._backward_...``);
- the public functions of :mod:`fastnl.activations` (signature, argument
  checks, docstring) and their ``fastnl.ufunc`` twins;
- the ``fastnl.nn`` classes, the test and self-check settings (``cases``) and
  the benchmark lists;
- the documentation's lists of activations (``docs/_ext/fastnl_docs.py``): the
  gallery's sections and the migration guide's torch -> fastnl tables.

Adding an activation: its C math (forward and derivative) in
``fnl_activations.h``, a ``Kernel`` row if it needs a new loop, and an
``Activation`` row here; the documentation follows from the row.

Expressions (``kernel_args``, ``Param.domain``, ``Activation.constraints``) are
written in the common subset of Python and C (names of parameters, numbers,
``+ - * /``, comparisons, ``isfinite(...)``, ``and``/``or`` are not allowed:
write one constraint per condition), so that the Python checks and the ufunc
loops evaluate the same text.

The baselines of the benchmarks (``numpy``, ``torch_backward``,
``torch_saved``) are plain Python expressions (not C), evaluated by
``fastnl.bench``, the asv benchmarks and ``tests/test_ops_expressions.py``
with the parameters bound to their values (the function's defaults updated by
a ``cases`` setting; a tuple as an array of x's dtype):

- ``numpy``: the plain NumPy formula of the forward over ``np``, ``x``, the
  parameters and ``erf``, ``expit`` (SciPy's when installed), the result in
  x's dtype (Python numbers only: a NumPy float64 scalar would promote float32);
- ``torch_backward``: what torch runs for the gradient, over ``torch``,
  ``aten`` (``torch.ops.aten``), ``g`` (grad_output), ``x``, ``y`` (the
  forward's output), ``saved`` and the parameters: its own backward kernel
  (``aten.gelu_backward(g, x, approximate=approximate)``), or for the
  functions that torch composes of several ops (softsign, tanhshrink) the
  ops its autograd evaluates;
- ``torch_saved``: a tensor that torch's autograd keeps from the forward for
  the backward besides x and y (logsigmoid's CPU buffer ``exp(-|x|)``, from
  ``aten.log_sigmoid_forward``), computed once outside the timing, as
  autograd computes it during the forward.

The documentation fields are reST and LaTeX, read by ``docs/_ext/fastnl_docs.py``
(``.. fastnl-gallery::``, ``.. fastnl-torch-table::``):

- ``family``: the gallery's heading (the constants just before ACTIVATIONS);
  the headings come in the order of their first row, and under each heading
  its rows in the table's order;
- ``latex``: the formula under the figure (a ``.. math::`` block; ``\n``
  separates its lines);
- ``gallery``: what the function is good for, after the facts the gallery
  writes itself from the row (the parameters and their defaults, the torch
  names or "not in torch", ``beyond_torch``). A ``custom`` row has no
  ``Param`` rows: the first paragraph of its text gives its parameters, and
  the torch names follow it;
- ``plot``: keyword arguments of ``fastnl_plots.plot_activation`` that
  override the first case's parameters (a parameter drawn with another value
  so that the curve shows it, which the gallery then mentions) or set
  ``xlim`` / ``ylim`` (default x in [-5, 5]);
- ``torch_differences``: the migration guide's note on the arguments,
  besides ``inplace`` (pass ``out=x``) and ``beyond_torch``, which it adds.
  A row with ``torch=None`` is listed there as fastnl's own.
"""

from typing import NamedTuple

# Fewest elements that start threads: cheap memory-bound loops need more work
# per thread to pay for the fork/join. (PyTorch's ATen uses 32768 for every
# op, at::internal::GRAIN_SIZE; never below that, as get_num_threads documents.)
GRAIN_SIZE = 32768
CHEAP, MID, HEAVY = 65536, 32768, 32768


class Kernel(NamedTuple):
    """A C loop over ``fnl_<name>_<s>(x, p0, ...)`` and its backward.

    rare: per dtype suffix ('f', 'd'), a C condition on x (and p0...) that
        sends a block through ``fnl_<name>_rare_<s>(x, p0, ...)`` (scalar libm)
        for those elements: inputs where the vector formula loses accuracy.
    rare_backward: the same for the derivative, through
        ``fnl_<name>_backward_rare_<s>(g, x, p0, ...)``: inputs the vector
        formula would only get right with work every element pays for.
    special: (C condition on p0..., argument list) -- when the condition holds
        the loop calls the function with these arguments instead (a constant
        the compiler can fold, e.g. no division by beta = 1).
    from_output: the derivative also from the forward's output y,
        ``fnl_<name>_from_output_<s>(g, y)``: torch's autograd form, cheaper
        than recomputing f from x (it needs no exp).
    staged: per dtype suffix, the C type of a first stage: the loop runs
        ``pre = fnl_<name>_pre_<s>(x, p0, ...)`` over a few hundred elements
        into a buffer, then ``fnl_<name>_post_<s>(x, pre, p0, ...)`` over
        them (the header defines ``fnl_<name>_<s>`` as the two composed, the
        same bits). A tuple of types for a first stage of several results:
        ``fnl_<name>_pre_<s>(x, p0, ..., &r1, ...)`` returns the first,
        ``fnl_<name>_post_<s>(x, r0, r1, ..., p0, ...)`` takes them all (one
        buffer each: an array of structs would cost shuffles). Two short
        dependency chains instead of one long one keep more vectors in
        flight where the chain, not the arithmetic, bounds the loop (float64
        exp then a corrected quotient, on AVX2).
    staged_backward: the same for the derivative, ``fnl_<name>_backward_pre_<s>``
        and ``fnl_<name>_backward_post_<s>(g, x, pre, p0, ...)``.
    pieces: the passes ("forward", "backward") whose float32 loop, on CPUs
        with AVX-512, is ``fnl_<name>16_f(x)`` (``fnl_<name>_backward16_f(g,
        x)``) over 16 lanes at a time, a piecewise polynomial read from a
        table by permutes (``fnl_pieces16_f``), instead of the clone's loop.
    """
    name: str
    params: tuple = ()
    grain: int = MID
    rare: dict = {}
    rare_backward: dict = {}
    special: tuple = None
    from_output: bool = False  # a third loop: the derivative from the forward's output
    staged: dict = {}
    staged_backward: dict = {}
    pieces: tuple = ()


# below these x, exp(x) is below the normal range (float32, float64): one cut
# for silu's forward and derivative fix-ups (float32 silu's vector forms take
# exp unscaled above it: fnl_exp_nonpos_normal_f's clamp)
EXP_NORMAL_MIN = {"f": -87.0, "d": -708.0}
BELOW_EXP_NORMAL = {"f": f"x < {EXP_NORMAL_MIN['f']!r}f", "d": f"x < {EXP_NORMAL_MIN['d']!r}"}
# float32's sigmoid in two stages (fnl_sigmoid_pre_f / _post_f: exp(-|z|) as
# a pair, then the corrected quotient) covers |z| <= 80, where exp(-|z|) is
# a normal pair; larger |z| and NaN go to the fix-up (FNL_BEYOND_SIGMOID_PAIR_F).
# The softplus and logsigmoid derivatives take exp(-|z|) alone
# (fnl_sigmoid_from_exp_f, one float stage) and the same cut.
SIGMOID_PAIR = ("float", "float")


# float32 gelu and its derivative in two stages: exp(-z^2/2) times the
# rational function's numerator, and its denominator, then the division
GELU_STAGE = ("float", "float")


def beyond_sigmoid_pair(z):
    return f"FNL_BEYOND_SIGMOID_PAIR_F({z})"


KERNELS = [
    Kernel("identity", grain=CHEAP),  # a plain copy: the benchmarks' bandwidth floor
    Kernel("relu", grain=CHEAP),
    Kernel("hardtanh", ("min_val", "max_val"), CHEAP),
    Kernel("leaky_relu", ("negative_slope",), CHEAP),
    # torch's one ELU form (negative coefficient, positive coefficient, input
    # scale), and what a coefficient that is a product of constants (selu's)
    # lost to its rounding to a double (float64 kernels add it); a scale <= 0
    # (celu with alpha < 0) needs libm's full expm1
    Kernel("elu", ("negcoef", "poscoef", "input_scale", "negcoef_lo"), MID,
           rare={"f": "!(p2 > 0)", "d": "!(p2 > 0)"}),
    # float64's tail below -8 through its own fix-up (fnl_gelu_rare_d); the
    # float32 derivative by pieces with AVX-512 (fnl_gelu_backward16_f)
    Kernel("gelu", grain=HEAVY, rare={"d": "x < -8.0"}, staged={"f": GELU_STAGE},
           staged_backward={"f": GELU_STAGE}, pieces=("backward",)),
    # the derivative's tails and infinities through the fix-up: as selects
    # every element paid for them
    Kernel("gelu_tanh", staged={"d": ("double", "double", "double")},
           rare_backward={"f": "!(FNL_FABSF(x) < INFINITY)", "d": "!(FNL_FABS(x) <= 21.0)"}),
    Kernel("softplus", ("beta", "threshold"), special=("p0 == 1", "1, p1"),
           staged={"f": "double", "d": "double"},
           staged_backward={"f": "float", "d": "double"},
           rare_backward={"f": beyond_sigmoid_pair("x * (float)p0")}),
    # <name>_backward(grad_output, output=y), as torch's autograd computes it
    Kernel("sigmoid", from_output=True, staged={"f": SIGMOID_PAIR, "d": "double"},
           rare={"f": beyond_sigmoid_pair("x")}, staged_backward={"f": "double"}),
    Kernel("tanh", from_output=True, staged_backward={"f": "double"}, pieces=("forward",)),
    Kernel("softsign", grain=CHEAP),
    Kernel("threshold", ("threshold", "value"), CHEAP),
    Kernel("tanhshrink", pieces=("forward", "backward")),
    Kernel("softshrink", ("lambd",), CHEAP),
    Kernel("hardshrink", ("lambd",), CHEAP),
    Kernel("logsigmoid", staged={"f": "double", "d": "double"},
           staged_backward={"f": "float", "d": "double"},
           rare_backward={"f": beyond_sigmoid_pair("x")}),
    # below exp's normal range: x exp(x) through libm, its derivative through
    # the scalar tail that the vector loop would otherwise pay for everywhere
    Kernel("silu", rare={"f": beyond_sigmoid_pair("x"), "d": BELOW_EXP_NORMAL["d"]},
           rare_backward=BELOW_EXP_NORMAL, staged={"f": SIGMOID_PAIR, "d": "double"},
           staged_backward={"f": "float", "d": "double"}),
    Kernel("mish", rare={"f": "x < -708.0f", "d": "x < -708.0"}),
    Kernel("hardsigmoid", grain=CHEAP),
    Kernel("hardswish", grain=CHEAP),
    Kernel("squareplus", ("b",)),
]


class Param(NamedTuple):
    """A scalar parameter of a public function.

    finite: must be finite (else only NaN is refused, unless nan=True).
    domain: a condition it must meet (Python and C), message in `error`.
    """
    name: str
    default: object = None   # None: required (no default)
    finite: bool = True
    nan: bool = False
    domain: str = None
    error: str = None
    options: tuple = None    # a string parameter: its allowed values
    doc: str = ""            # its line in the docstrings' Parameters section


class Activation(NamedTuple):
    name: str
    summary: str                 # the docstring's first line, after the name
    kernel: object = None        # Kernel name, or {option: kernel name} for a choice
    params: tuple = ()
    kernel_args: tuple = None    # the kernel's p0, p1, ... from the params (default: params)
    constraints: tuple = ()      # (condition, message) on several params
    torch: str = None            # torch's name: torch.nn.functional.<torch> or torch.<torch>
    module: str = None           # the fastnl.nn / torch.nn class
    inplace: bool = False        # the nn class takes inplace= (as torch's does)
    details: str = ""            # paragraphs after the summary
    beyond_torch: str = ""       # where fastnl returns the limit and torch NaN
    derivative: str = ""         # f'(x) in the backward's docstring
    example: tuple = None        # (arguments, output) of a forward doctest
    backward_example: tuple = None
    cases: tuple = ({},)         # parameter settings the tests and self-check run
    kinks: tuple = ()            # where f' jumps (expressions over the params)
    derivative_limits: tuple = None  # (f'(-inf), f'(inf)) (expressions over the params)
    custom: bool = False         # written out in activations.py (weights, rng)
    ufunc: bool = True           # has fastnl.ufunc twins
    # the benchmark's and tests' baselines, Python expressions (see the module docstring)
    numpy: str = None            # the plain NumPy formula of the forward
    torch_backward: str = None   # torch's backward kernel (or autograd's composite)
    torch_saved: str = None      # what autograd keeps from the forward for it, as `saved`
    # the documentation (see the module docstring)
    family: str = ""             # the gallery's heading it is listed under
    latex: str = ""              # the gallery's formula (LaTeX; lines joined by newlines)
    gallery: str = ""            # the gallery's text after the generated facts (reST)
    plot: dict = {}              # the gallery figure's arguments over the first case's
    torch_differences: str = ""  # the migration guide's notes beyond inplace and beyond_torch


NONZERO = "must be non-zero"

# The gallery's headings (Activation.family), in the order of their first row.
RECTIFIERS = "Rectifiers: one kink at 0"
EXPONENTIAL = "Exponential linear units: a smooth negative side"
SMOOTH = "Smooth rectifiers: gates and soft ReLUs"
SQUASHING = "Squashing functions: bounded and saturating"
PIECEWISE = "Piecewise-linear approximations"
SHRINKAGE = "Shrinkage: zeroing small values"

ACTIVATIONS = [
    Activation(
        "relu", "Rectified linear unit, ``max(0, x)``.", "relu", torch="relu", module="ReLU",
        inplace=True, details="``-0.0`` and NaN pass through unchanged, as in torch.",
        derivative="(x > 0)",
        numpy="np.maximum(x, 0)",
        torch_backward="aten.threshold_backward(g, y, 0)",
        example=("[-2.0, 0.0, 3.0]", "array([0., 0., 3.])"),
        backward_example=("[-1.0, 0.0, 2.0]", "array([0., 0., 1.])"),
        family=RECTIFIERS,
        latex=r"\mathrm{relu}(x) = \max(0, x)",
        gallery="The default for hidden layers: cheap, a gradient of exactly 1 for active units, "
                "and sparse outputs. Its weakness is the *dying ReLU*: a unit whose input is "
                "negative for every sample gets a zero gradient and stops learning (a large "
                "learning rate or a bad bias can push units there); the leaky variants below keep "
                "a small gradient to avoid it.",
        kinks=("0",), derivative_limits=("0", "1")),
    Activation(
        "relu6", "ReLU capped at 6, ``min(max(0, x), 6)``.", "hardtanh",
        kernel_args=("0.0", "6.0"), torch="relu6", module="ReLU6", inplace=True,
        derivative="(0 < x < 6)",
        numpy="np.clip(x, 0, 6)",
        torch_backward="aten.hardtanh_backward(g, x, 0.0, 6.0)",
        example=("[-1.0, 3.0, 9.0]", "array([0., 3., 6.])"),
        backward_example=("[-1.0, 3.0, 6.0]", "array([0., 1., 0.])"),
        family=RECTIFIERS, plot={"xlim": (-3.0, 9.0)},
        latex=r"\mathrm{relu6}(x) = \min(\max(0, x), 6)",
        gallery="ReLU with a ceiling: the bounded range suits low-precision (fixed-point) "
                "inference, which is why mobile networks such as MobileNetV2 use it. The cap adds "
                "a second kink, so it is not scale invariant, and units above 6 get no gradient.",
        kinks=("0", "6"), derivative_limits=("0", "0")),
    Activation(
        "leaky_relu", "Leaky ReLU, ``x if x > 0 else negative_slope * x``.", "leaky_relu",
        params=(Param("negative_slope", 0.01, doc="Slope for x <= 0."),), torch="leaky_relu", module="LeakyReLU",
        inplace=True,
        details="A small slope keeps a gradient for negative inputs, so units cannot "
                "\"die\" as plain ReLU units can.",
        derivative="(1 if x > 0 else negative_slope)",
        numpy="np.where(x > 0, x, negative_slope * x)",
        torch_backward="aten.leaky_relu_backward(g, x, negative_slope, False)",
        example=("[-2.0, 3.0], negative_slope=0.5", "array([-1.,  3.])"),
        backward_example=("[-1.0, 0.0, 2.0]", "array([0.01, 0.01, 1.  ])"),
        cases=({}, {"negative_slope": 0.2}),
        family=RECTIFIERS, plot={"negative_slope": 0.1},  # 0.01 would look flat
        latex=r"\mathrm{leaky\_relu}(x) = \begin{cases} x & x > 0 \\ "
              r"\mathrm{negative\_slope} \cdot x & x \le 0 \end{cases}",
        gallery="A drop-in fix for dying ReLUs: negative inputs keep a small gradient, so a unit "
                "can recover. Still a single kink, hence scale invariant.",
        kinks=("0",), derivative_limits=("negative_slope", "1")),
    Activation("prelu", "Parametric ReLU.", torch="prelu", module="PReLU", custom=True,
               ufunc=False, cases=({"weight": (0.25,)},),
               numpy="np.where(x > 0, x, weight * x)",  # weight of one element, or x of (C,)
               torch_backward="aten._prelu_kernel_backward(g, x, weight)[0]",  # grad_x
               family=RECTIFIERS,
               latex=r"\mathrm{prelu}(x) = \begin{cases} x & x > 0 \\ w_c \, x & x \le 0 "
                     r"\end{cases}",
               gallery="``weight``: one slope shared by all channels or one per channel "
                       "(channel axis 1, or 0 for 1-d input); drawn with 0.25, the initial "
                       "slope of ``nn.PReLU``.\n\n"
                       "Leaky ReLU whose slope is learnt: ``prelu_backward`` returns the "
                       "gradient of the weight too, and ``fastnl.nn.PReLU`` accumulates it in "
                       "``weight_grad``. Worth trying in convolutional networks. Weight decay "
                       "pulls the slope towards 0, that is towards ReLU, so it is usually not "
                       "applied to it.",
               torch_differences="``weight`` is any array-like of 1 or C elements.",
               kinks=("0",), derivative_limits=("weight[0]", "1")),
    # the expressions of rrelu are those of evaluation (training=False): a fixed slope
    Activation("rrelu", "Randomized leaky ReLU.", torch="rrelu", module="RReLU", custom=True,
               ufunc=False, inplace=True, cases=({}, {"lower": 0.1, "upper": 0.3}),
               numpy="np.where(x > 0, x, (lower + upper) / 2 * x)",
               torch_backward="aten.rrelu_with_noise_backward(g, x, torch.empty_like(x), lower, "
                              "upper, False, False)",
               # the defaults, shown in the figure's title; fastnl_plots adds the band of
               # slopes that training draws from
               family=RECTIFIERS, plot={"lower": 1 / 8, "upper": 1 / 3},
               latex=(r"\mathrm{rrelu}(x) = \begin{cases} x & x > 0 \\ a \, x & x \le 0 "
                      r"\end{cases},"
                      "\n"
                      r"\qquad a \sim U(\mathrm{lower}, \mathrm{upper}) \text{ in training},"
                      "\n"
                      r"\quad a = \tfrac{\mathrm{lower} + \mathrm{upper}}{2} "
                      r"\text{ in evaluation}"),
               gallery="``lower=1/8``, ``upper=1/3``, ``training=False``, ``rng=None``. The "
                       "curve is the evaluation form; the band shows the slopes training draws "
                       "from.\n\n"
                       "A leaky ReLU whose random slope acts as a regulariser during training "
                       "(each negative element gets its own slope). Pass ``return_noise=True`` "
                       "in training to get the slopes that ``rrelu_backward`` needs.",
               torch_differences="Extra ``rng`` (seed or Generator) for the slopes drawn in "
                                 "training, ``return_noise=True`` returns them for "
                                 "``rrelu_backward``.",
               kinks=("0",), derivative_limits=("(lower + upper) / 2", "1")),
    Activation(
        "elu", "Exponential linear unit, ``x if x > 0 else alpha * (exp(x) - 1)``.", "elu",
        params=(Param("alpha", 1.0, doc="The limit of -f(x) at -inf."),), kernel_args=("alpha", "1.0", "1.0", "0.0"), torch="elu",
        module="ELU", inplace=True, details="Computed with ``expm1``, accurate for small negative x.",
        derivative="(1 if x > 0 else alpha * exp(x))",
        numpy="np.where(x > 0, x, alpha * np.expm1(x))",
        torch_backward="aten.elu_backward(g, alpha, 1.0, 1.0, False, x)",
        example=("[-1000.0, 0.0, 2.0]", "array([-1.,  0.,  2.])"),
        backward_example=("[-1000.0, 0.0, 2.0]", "array([0., 1., 1.])"),
        cases=({}, {"alpha": 0.5}),
        family=EXPONENTIAL,
        latex=r"\mathrm{elu}(x) = \begin{cases} x & x > 0 \\ \alpha (e^{x} - 1) & x \le 0 "
              r"\end{cases}",
        gallery="Negative outputs that saturate at ``-alpha`` push the mean activation towards "
                "zero, which can speed up training, and negative units keep a gradient. With "
                "``alpha=1`` the derivative is continuous at 0; with other values it jumps.",
        kinks=("0",), derivative_limits=("0", "1")),
    Activation(
        "celu", "Continuously differentiable ELU, "
        "``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``.", "elu",
        params=(Param("alpha", 1.0, domain="alpha != 0", error=NONZERO,
                      doc="The limit of -f(x) at -inf; non-zero."),),
        kernel_args=("alpha", "1.0", "1.0 / alpha", "0.0"), torch="celu", module="CELU", inplace=True,
        derivative="(1 if x > 0 else exp(x / alpha))",
        numpy="np.where(x > 0, x, alpha * np.expm1(x / alpha))",
        torch_backward="aten.elu_backward(g, alpha, 1.0, 1.0 / alpha, False, x)",
        example=("[-1000.0, 2.0], alpha=2.0", "array([-2.,  2.])"),
        backward_example=("[-1000.0, 0.0, 2.0]", "array([0., 1., 1.])"),
        cases=({}, {"alpha": 2.0}),
        family=EXPONENTIAL, plot={"alpha": 2.0},
        latex=r"\mathrm{celu}(x) = \max(0, x) + \min\!\left(0, \alpha \left(e^{x/\alpha} - 1"
              r"\right)\right)",
        gallery="ELU rescaled so that its derivative is continuous at 0 for every ``alpha``: "
                "choose it over ELU when you want a saturation level other than -1 and a smooth "
                "gradient.",
        kinks=("0",), derivative_limits=("0", "1")),
    Activation(
        "selu", "Scaled ELU, ``scale * (x if x > 0 else alpha * (exp(x) - 1))``.", "elu",
        # alpha * scale, scale, 1 with the constants of Klambauer et al. (2017),
        # as torch.nn.functional.selu uses them; alpha * scale is torch's
        # product of the two doubles, 1.06 ulp below the exact one, and the
        # last argument the rest (the exact product less that double, from
        # the constants' 32 digits)
        kernel_args=("1.7580993408473766", "1.0507009873554805", "1.0", "2.361981243051158e-16"),
        torch="selu",
        module="SELU", inplace=True,
        details="``alpha = 1.6732632423543772`` and ``scale = 1.0507009873554805`` "
                "(Klambauer et al., 2017, self-normalizing networks). float64 multiplies by "
                "their exact product, ``alpha * scale`` rounded once (1.7580993408473768; "
                "torch multiplies the rounded constants, 1.7580993408473766), so the two "
                "differ by an ulp near and at -inf.",
        derivative="scale * (1 if x > 0 else alpha * exp(x))",
        numpy="1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x))",
        torch_backward="aten.elu_backward(g, 1.6732632423543772, 1.0507009873554805, 1.0, "
                       "False, x)",
        example=("1.0", "np.float64(1.0507009873554805)"),
        backward_example=("[-1000.0, 1.0, 2.0]", "array([0.        , 1.05070099, 1.05070099])"),
        family=EXPONENTIAL,
        latex=(r"\mathrm{selu}(x) = \lambda \begin{cases} x & x > 0 \\ \alpha (e^{x} - 1) & "
               r"x \le 0 \end{cases},"
               "\n"
               r"\quad \alpha \approx 1.6733,\ \lambda \approx 1.0507"),
        gallery="For self-normalising fully connected networks (Klambauer et al., 2017): with "
                "LeCun-normal weights the constants keep activations near zero mean and unit "
                "variance layer after layer, without batch normalisation. Its derivative jumps "
                "at 0 (from about 1.76 to 1.05).",
        kinks=("0",), derivative_limits=("0", "1.0507009873554805")),
    Activation(
        "gelu", "Gaussian error linear unit, ``x * Phi(x)``.",
        {"none": "gelu", "tanh": "gelu_tanh"},
        params=(Param("approximate", "none", options=("none", "tanh"),
                      doc="``'none'`` (the exact form) or ``'tanh'``."),), torch="gelu",
        module="GELU",
        details="``approximate='none'`` uses the normal CDF ``Phi(x) = erfc(-x / sqrt(2)) / 2``; "
                "``'tanh'`` uses ``(1 + tanh(sqrt(2 / pi) * (x + 0.044715 x**3))) / 2``. "
                "Both are evaluated in forms that keep relative accuracy for x << 0 (where "
                "``1 + erf`` and ``1 + tanh`` cancel).",
        beyond_torch="``gelu(inf) = inf`` and ``gelu(-inf) = -0.0`` in both forms "
                     "(torch 2.13 returns NaN at -inf).",
        derivative="(Phi(x) + x * phi(x))",
        numpy="0.5 * x * (1 + (erf(x * 0.7071067811865476) if approximate == 'none' else "
              "np.tanh(0.7978845608028654 * (x + 0.044715 * x**3))))",
        torch_backward="aten.gelu_backward(g, x, approximate=approximate)",
        example=("[-np.inf, 0.0, np.inf]", "array([-0.,  0., inf])"),
        backward_example=("[-np.inf, 0.0, np.inf]", "array([0. , 0.5, 1. ])"),
        cases=({}, {"approximate": "tanh"}),
        family=SMOOTH,
        latex=(r"\mathrm{gelu}(x) = x \, \Phi(x), \qquad"
               "\n"
               r"\Phi(x) = \tfrac12 \operatorname{erfc}\!\left(-x / \sqrt{2}\right)"),
        gallery=r"The ``'tanh'`` form replaces :math:`\Phi(x)` by :math:`\tfrac12 \left(1 + "
                r"\tanh\left(\sqrt{2/\pi}\,(x + 0.044715 x^3)\right)\right)`."
                "\n\n"
                "The standard activation of transformers (BERT, GPT). Smooth and slightly "
                "non-monotonic (a minimum of about -0.17 near ``x = -0.75``). Use the ``'tanh'`` "
                "form only to match a model trained with it.",
        kinks=(), derivative_limits=("0", "1")),
    Activation(
        "softplus", "Softplus, ``log(1 + exp(beta * x)) / beta``.", "softplus",
        params=(Param("beta", 1.0, domain="beta != 0", error=NONZERO, doc="Sharpness; non-zero."),
                Param("threshold", 20.0, doc="Above ``beta * x > threshold`` the result is x.")),
        torch="softplus", module="Softplus",
        details="Returns ``x`` itself where ``beta * x > threshold`` (as torch does); the rest "
                "is evaluated as ``(max(z, 0) + log1p(exp(-|z|))) / beta``, ``z = beta * x``, "
                "which cannot overflow whatever the threshold.",
        beyond_torch="with a threshold above about 88 (float32) or 709 (float64), torch 2.13 "
                     "returns inf where ``beta * x`` lies between that and the threshold; "
                     "fastnl returns the finite value.",
        derivative="(1 if beta * x > threshold else sigmoid(beta * x))",
        numpy="np.where(beta * x > threshold, x, np.logaddexp(0, beta * x) / beta)",
        torch_backward="aten.softplus_backward(g, x, beta, threshold)",
        example=("[-30.0, 0.0, 30.0]", "array([9.35762297e-14, 6.93147181e-01, 3.00000000e+01])"),
        backward_example=("[-1000.0, 0.0, 1000.0]", "array([0. , 0.5, 1. ])"),
        cases=({}, {"beta": 2.0, "threshold": 10.0}, {"beta": 0.5, "threshold": 1000.0}),
        family=SMOOTH,
        latex=(r"\mathrm{softplus}(x) = \frac{1}{\beta} \log\left(1 + e^{\beta x}\right),"
               "\n"
               r"\text{ or } x \text{ where } \beta x > \mathrm{threshold}"),
        gallery="A smooth ReLU that is strictly positive: the usual way to produce a positive "
                "output (a standard deviation, a rate). Larger ``beta`` brings it closer to ReLU. "
                "Its derivative is the sigmoid of ``beta * x``.",
        kinks=("threshold / beta",), derivative_limits=("0", "1")),
    Activation(
        "sigmoid", "Logistic sigmoid, ``1 / (1 + exp(-x))``.", "sigmoid", torch="sigmoid",
        module="Sigmoid", details="Evaluated through ``exp(-|x|)`` only, so it never overflows.",
        derivative="sigmoid(x) * sigmoid(-x)",
        numpy="expit(x)",
        torch_backward="aten.sigmoid_backward(g, y)",
        example=("[-1000.0, 0.0, 1000.0]", "array([0. , 0.5, 1. ])"),
        backward_example=("[-1000.0, 0.0, 1000.0]", "array([0.  , 0.25, 0.  ])"),
        family=SQUASHING, plot={"xlim": (-8.0, 8.0)},
        latex=r"\sigma(x) = \frac{1}{1 + e^{-x}}",
        gallery="Maps to (0, 1): gates (LSTM, GRU) and the probability of a binary output. Its "
                "derivative is at most 1/4 and decays like :math:`e^{-|x|}`, so stacks of sigmoid "
                "layers train slowly (vanishing gradients); avoid it in hidden layers. For a "
                "binary classifier, keep the logits and use "
                "``binary_cross_entropy_with_logits`` rather than sigmoid followed by "
                "``binary_cross_entropy``.",
        kinks=(), derivative_limits=("0", "0")),
    Activation(
        "tanh", "Hyperbolic tangent.", "tanh", torch="tanh", module="Tanh",
        derivative="(1 - tanh(x)**2)",
        numpy="np.tanh(x)",
        torch_backward="aten.tanh_backward(g, y)",
        example=("[0.0, 1000.0]", "array([0., 1.])"),
        backward_example=("[-1000.0, 0.0, 1000.0]", "array([0., 1., 0.])"),
        family=SQUASHING, plot={"xlim": (-5.0, 5.0)},
        latex=r"\tanh(x) = \frac{e^{x} - e^{-x}}{e^{x} + e^{-x}}",
        gallery="Zero-centred sigmoid with range (-1, 1) and derivative at most 1: the state "
                "non-linearity of recurrent networks. Saturates like the sigmoid, so the same "
                "warning about deep stacks applies.",
        kinks=(), derivative_limits=("0", "0")),
    Activation(
        "softsign", "Softsign, ``x / (1 + |x|)``.", "softsign", torch="softsign",
        module="Softsign", beyond_torch="``softsign(+-inf) = +-1`` (torch 2.13 returns NaN).",
        derivative="1 / (1 + |x|)**2",
        numpy="x / (1 + np.abs(x))",
        torch_saved="x.abs() + 1",
        torch_backward="g / saved - g * (x / saved / saved) * x.sgn()",
        example=("[-np.inf, 1.0, np.inf]", "array([-1. ,  0.5,  1. ])"),
        backward_example=("[-1.0, 0.0, 1.0]", "array([0.25, 1.  , 0.25])"),
        family=SQUASHING, plot={"xlim": (-10.0, 10.0)},
        latex=r"\mathrm{softsign}(x) = \frac{x}{1 + |x|}",
        gallery="Shaped like tanh but with polynomial tails: its derivative decays like "
                ":math:`1/x^2` instead of exponentially, so it saturates more gently.",
        kinks=("0",), derivative_limits=("0", "0")),
    Activation(
        "hardtanh", "Clamp to ``[min_val, max_val]``.", "hardtanh",
        params=(Param("min_val", -1.0, finite=False, doc="Lower bound."),
                Param("max_val", 1.0, finite=False, doc="Upper bound, ``>= min_val``.")),
        constraints=(("min_val <= max_val", "min_val must be <= max_val"),),
        torch="hardtanh", module="Hardtanh", inplace=True, derivative="(min_val < x < max_val)",
        numpy="np.clip(x, min_val, max_val)",
        torch_backward="aten.hardtanh_backward(g, x, min_val, max_val)",
        example=("[-3.0, 0.5, 3.0]", "array([-1. ,  0.5,  1. ])"),
        backward_example=("[-1.0, 0.0, 1.0]", "array([0., 1., 0.])"),
        cases=({}, {"min_val": -2.0, "max_val": 0.5}),
        family=PIECEWISE, plot={"xlim": (-3.0, 3.0)},
        latex=r"\mathrm{hardtanh}(x) = \min(\max(x, \mathrm{min\_val}), \mathrm{max\_val})",
        gallery="A clamp: a cheap stand-in for tanh, or a way to bound values. The gradient is 0 "
                "outside the interval (and at its ends), so clamped units do not learn.",
        kinks=("min_val", "max_val"), derivative_limits=("0", "0")),
    Activation(
        "threshold", "``x if x > threshold else value``.", "threshold",
        params=(Param("threshold", finite=False, doc="Inputs at or below it are replaced."),
                Param("value", finite=False, nan=True, doc="What replaces them.")),
        torch="threshold", module="Threshold", inplace=True,
        details="NaN inputs stay NaN (they are not \"at or below\" the threshold).",
        derivative="(x > threshold)",
        numpy="np.where(x > threshold, x, value)",
        torch_backward="aten.threshold_backward(g, x, threshold)",
        example=("[0.5, 1.0, 2.0], threshold=1.0, value=-5.0", "array([-5., -5.,  2.])"),
        backward_example=("[0.0, 1.0, 2.0], threshold=1.0, value=0.0", "array([0., 0., 1.])"),
        cases=({"threshold": 0.5, "value": -3.0},),
        family=RECTIFIERS, plot={"threshold": 1.0, "value": -1.0},
        latex=r"\mathrm{threshold}(x) = \begin{cases} x & x > \mathrm{threshold} \\ "
              r"\mathrm{value} & x \le \mathrm{threshold} \end{cases}",
        gallery="The general form of ReLU (``threshold=0, value=0``): replace everything at or "
                "below a cut-off by a constant. The jump at the threshold makes it a poor "
                "hidden-layer activation unless ``value`` equals ``threshold``; it is a tool for "
                "clipping and masking.",
        kinks=("threshold",), derivative_limits=("0", "1")),
    Activation(
        "tanhshrink", "``x - tanh(x)``.", "tanhshrink", torch="tanhshrink", module="Tanhshrink",
        details="Near 0 the difference cancels: the absolute error is a few ulp of ``|x|``.",
        derivative="tanh(x)**2",
        numpy="x - np.tanh(x)",
        torch_saved="torch.tanh(x)",
        torch_backward="g + aten.tanh_backward(-g, saved)",
        example=("[0.0, 100.0]", "array([ 0., 99.])"),
        backward_example=("[-1000.0, 0.0, 1000.0]", "array([1., 0., 1.])"),
        family=SHRINKAGE, plot={"xlim": (-4.0, 4.0)},
        latex=r"\mathrm{tanhshrink}(x) = x - \tanh(x)",
        gallery=r"A smooth shrinkage: close to :math:`x^3/3` near 0 and to :math:`x \mp 1` far "
                "out. Rarely used as a hidden activation; it appears in some sparse-coding "
                "models.",
        kinks=(), derivative_limits=("1", "1")),
    Activation(
        "softshrink", "Soft shrinkage, ``x - lambd`` above ``lambd``, ``x + lambd`` below "
        "``-lambd``, else 0.", "softshrink",
        params=(Param("lambd", 0.5, domain="lambd >= 0", error="must be >= 0",
                      doc="Half-width of the zeroed band, ``>= 0``."),),
        torch="softshrink", module="Softshrink", derivative="(|x| > lambd)",
        numpy="np.where(x > lambd, x - lambd, np.where(x < -lambd, x + lambd, 0))",
        torch_backward="aten.softshrink_backward(g, x, lambd)",
        example=("[-2.0, 0.25, 2.0]", "array([-1.5,  0. ,  1.5])"),
        backward_example=("[-1.0, 0.5, 2.0]", "array([1., 0., 1.])"),
        cases=({}, {"lambd": 1.5}),
        family=SHRINKAGE, plot={"xlim": (-3.0, 3.0)},
        latex=r"\mathrm{softshrink}(x) = \begin{cases} x - \lambda & x > \lambda \\ "
              r"x + \lambda & x < -\lambda \\ 0 & \text{otherwise} \end{cases}",
        gallery=r"Soft thresholding, the proximal operator of :math:`\lambda |x|`: the step of "
                "iterative sparse-coding and lasso solvers (ISTA) and of denoisers. Continuous, "
                "with a dead zone of width ``2 * lambd``.",
        kinks=("-lambd", "lambd"), derivative_limits=("1", "1")),
    Activation(
        "hardshrink", "Hard shrinkage, ``0 if -lambd <= x <= lambd else x``.", "hardshrink",
        params=(Param("lambd", 0.5, domain="lambd >= 0", error="must be >= 0",
                      doc="Half-width of the zeroed band, ``>= 0``."),),
        torch="hardshrink", module="Hardshrink", derivative="(|x| > lambd)",
        numpy="np.where(np.abs(x) > lambd, x, 0)",
        torch_backward="aten.hardshrink_backward(g, x, lambd)",
        example=("[-2.0, 0.25, 2.0]", "array([-2.,  0.,  2.])"),
        backward_example=("[-1.0, 0.5, 2.0]", "array([1., 0., 1.])"),
        cases=({}, {"lambd": 0.0}),
        family=SHRINKAGE, plot={"xlim": (-3.0, 3.0)},
        latex=r"\mathrm{hardshrink}(x) = \begin{cases} x & |x| > \lambda \\ 0 & "
              r"\text{otherwise} \end{cases}",
        gallery="Hard thresholding: keeps large values unchanged and zeroes small ones (no "
                "shrinking bias, unlike softshrink), at the price of jumps at ``+-lambd``.",
        kinks=("-lambd", "lambd"), derivative_limits=("1", "1")),
    Activation(
        "logsigmoid", "``log(sigmoid(x))``.", "logsigmoid", torch="logsigmoid",
        module="LogSigmoid",
        details="Evaluated as ``min(x, 0) - log1p(exp(-|x|))``: finite for every finite x, "
                "where the naive ``log(1 / (1 + exp(-x)))`` gives ``-inf`` below about -745.",
        derivative="sigmoid(-x)",
        numpy="-np.logaddexp(0, -x)",
        torch_saved="aten.log_sigmoid_forward(x)[1]",
        torch_backward="aten.log_sigmoid_backward(g, x, saved)",
        example=("[-800.0, 0.0]", "array([-8.00000000e+02, -6.93147181e-01])"),
        backward_example=("[-1000.0, 0.0, 1000.0]", "array([1. , 0.5, 0. ])"),
        family=SQUASHING, plot={"xlim": (-8.0, 8.0)},
        latex=r"\mathrm{logsigmoid}(x) = \log \sigma(x) = \min(x, 0) - \log\left(1 + "
              r"e^{-|x|}\right)",
        gallery="The log-probability of a binary event from its logit, for losses and "
                "likelihoods; computed in the stable form on the right, finite for every finite "
                "input where ``log(sigmoid(x))`` reaches ``-inf``.",
        kinks=(), derivative_limits=("1", "0")),
    Activation(
        "silu", "Sigmoid linear unit (swish), ``x * sigmoid(x)``.", "silu", torch="silu",
        module="SiLU", inplace=True,
        beyond_torch="``silu(-inf) = -0.0`` (torch 2.13 returns NaN).",
        derivative="(sigmoid(x) + x * sigmoid(x) * sigmoid(-x))",
        numpy="x * expit(x)",
        torch_backward="aten.silu_backward(g, x)",
        example=("[-np.inf, 0.0, np.inf]", "array([-0.,  0., inf])"),
        backward_example=("[-np.inf, 0.0, np.inf]", "array([0. , 0.5, 1. ])"),
        family=SMOOTH,
        latex=r"\mathrm{silu}(x) = x \, \sigma(x) = \frac{x}{1 + e^{-x}}",
        gallery="Also known as swish. Smooth, non-monotonic (minimum about -0.28 near "
                "``x = -1.28``), close to GELU in shape and results; used in EfficientNet and in "
                "the gated feed-forward blocks of recent language models.",
        kinks=(), derivative_limits=("0", "1")),
    Activation(
        "mish", "Mish, ``x * tanh(softplus(x))``.", "mish", torch="mish", module="Mish",
        inplace=True, beyond_torch="``mish(-inf) = -0.0`` (torch 2.13 returns NaN).",
        derivative="(tanh(sp) + x * sigmoid(x) / cosh(sp)**2)`` with ``sp = softplus(x)",
        numpy="x * np.tanh(np.logaddexp(0, x))",
        torch_backward="aten.mish_backward(g, x)",
        example=("[-np.inf, 0.0, np.inf]", "array([-0.,  0., inf])"),
        backward_example=("[-np.inf, 0.0, np.inf]", "array([0. , 0.6, 1. ])"),
        family=SMOOTH,
        latex=r"\mathrm{mish}(x) = x \tanh(\mathrm{softplus}(x))",
        gallery="Another smooth, non-monotonic ReLU replacement (minimum about -0.31 near "
                "``x = -1.19``), popularised by YOLOv4. It costs an ``exp``, a ``log1p`` and a "
                "``tanh`` per element, more than SiLU for a similar curve.",
        kinks=(), derivative_limits=("0", "1")),
    Activation(
        "hardsigmoid", "Piecewise-linear sigmoid, ``min(max(x + 3, 0), 6) / 6``.", "hardsigmoid",
        torch="hardsigmoid", module="Hardsigmoid", inplace=True,
        derivative="(1/6 if -3 < x < 3 else 0)",
        numpy="np.clip(x / 6 + 0.5, 0, 1)",
        torch_backward="aten.hardsigmoid_backward(g, x)",
        beyond_torch="the float64 gradient is ``g / 6`` rounded once (torch 2.13's float64 "
                     "``hardsigmoid_backward`` multiplies by ``1/6`` rounded to float32, "
                     "3e-8 off).",
        example=("[-4.0, 0.0, 4.0]", "array([0. , 0.5, 1. ])"),
        backward_example=("[-3.0, 0.0, 3.0]", "array([0.        , 0.16666667, 0.        ])"),
        family=PIECEWISE, plot={"xlim": (-6.0, 6.0)},
        latex=r"\mathrm{hardsigmoid}(x) = \frac{\min(\max(x + 3, 0), 6)}{6}",
        gallery="A piecewise-linear sigmoid without ``exp``, used for gates on mobile hardware "
                "(MobileNetV3's squeeze-and-excitation blocks).",
        kinks=("-3", "3"), derivative_limits=("0", "0")),
    Activation(
        "hardswish", "``x * hardsigmoid(x)``.", "hardswish", torch="hardswish",
        module="Hardswish", inplace=True,
        beyond_torch="``hardswish(-inf) = -0.0`` (torch 2.13 returns NaN), and "
                     "``hardswish(x) = x`` above a sixth of the largest float, where torch "
                     "2.13's ``x * 6`` overflows to inf.",
        derivative="(0 if x <= -3 else x / 3 + 1/2 if x < 3 else 1)",
        numpy="x * np.clip(x / 6 + 0.5, 0, 1)",
        torch_backward="aten.hardswish_backward(g, x)",
        example=("[-np.inf, 0.0, 4.0]", "array([-0.,  0.,  4.])"),
        backward_example=("[-4.0, 0.0, 4.0]", "array([0. , 0.5, 1. ])"),
        family=PIECEWISE, plot={"xlim": (-6.0, 6.0)},
        latex=r"\mathrm{hardswish}(x) = x \cdot \mathrm{hardsigmoid}(x)",
        gallery="SiLU's shape from linear and quadratic pieces (MobileNetV3): no ``exp``. It has "
                "kinks at -3 and 3, where its derivative jumps.",
        kinks=("-3", "3"), derivative_limits=("0", "1")),
    Activation(
        "squareplus", "Squareplus, ``(x + sqrt(x**2 + b)) / 2``: a smooth ReLU of algebraic "
        "operations only (jax.nn.squareplus).", "squareplus",
        params=(Param("b", 4.0, domain="b >= 0", error="must be >= 0",
                      doc="Smoothness: the curvature near 0; ``b = 0`` is relu."),),
        module="Squareplus", numpy="(x + np.sqrt(x * x + b)) / 2",
        details="Not in torch: fastnl's own, with the name and default of "
                "``jax.nn.squareplus``. Evaluated without cancellation for x << 0 (as "
                "``b / (2 (s - x))``, ``s = sqrt(x**2 + b)``) and without overflow of ``x**2``.",
        derivative="(1 + x / sqrt(x**2 + b)) / 2",
        example=("[-3.0, 0.0, 3.0]", "array([0.30277564, 1.        , 3.30277564])"),
        backward_example=("[-3.0, 0.0, 3.0]", "array([0.08397485, 0.5       , 0.91602515])"),
        cases=({}, {"b": 0.5}),
        family=SMOOTH,
        latex=r"\mathrm{squareplus}(x) = \frac{x + \sqrt{x^2 + b}}{2}",
        gallery="A smooth ReLU made of a square root and no transcendental function (Barron, "
                "2021), with the name and default of ``jax.nn.squareplus``: ``b`` sets how "
                "round the corner is, ``b = 0`` gives ReLU itself. Like "
                "softplus it is positive everywhere for ``b > 0``, but its negative side decays "
                "like :math:`b / (4 |x|)` rather than exponentially, so negative units keep a "
                "small gradient.",
        kinks=(), derivative_limits=("0", "1")),
]


class Ufunc(NamedTuple):
    """A NumPy ufunc of fastnl.ufunc: x and the numeric parameters in, one out."""
    name: str
    activation: str
    kernel: str
    params: tuple       # parameter names, the ufunc's inputs after x
    kernel_args: tuple  # C expressions of the kernel's p0, p1, ... over the params
    conditions: tuple   # C conditions on the params; the result is NaN where one fails
    call: str           # the fastnl function call it computes, for its docstring


def kernel_choices(a):
    """[(option, kernel, name)] of row `a`: the option of its choice parameter
    (None without one), the kernel it picks, and the name of that setting --
    the activation's own for the first option, ``<name>_<option>`` for the
    others (gelu_tanh): the ufunc's name and the tolerances' key."""
    if not isinstance(a.kernel, dict):
        return [(None, a.kernel, a.name)]
    return [(option, kernel, a.name if i == 0 else f"{a.name}_{option}")
            for i, (option, kernel) in enumerate(a.kernel.items())]


def setting_name(a, params):
    """The name of the setting `params` of row `a` (see kernel_choices)."""
    chooser = next((p for p in a.params if p.options is not None), None)
    option = None if chooser is None else params.get(chooser.name, chooser.default)
    return next(name for o, _, name in kernel_choices(a) if o == option)


def ufunc_table():
    """One Ufunc per activation and per kernel it chooses among (gelu: gelu and
    gelu_tanh), derived from ACTIVATIONS."""
    table = []
    for a in ACTIVATIONS:
        if a.custom or not a.ufunc:
            continue
        numeric = [p for p in a.params if p.options is None]
        names = tuple(p.name for p in numeric)
        conditions = []
        for p in numeric:
            if p.finite:
                conditions.append(f"isfinite({p.name})")
            elif not p.nan:
                conditions.append(f"{p.name} == {p.name}")
            if p.domain:
                conditions.append(p.domain)
        conditions += [c for c, _ in a.constraints]
        chooser = next((p.name for p in a.params if p.options is not None), None)
        for i, (option, kernel, name) in enumerate(kernel_choices(a)):
            arguments = ", ".join(("x",) + names + ((f"{chooser}={option!r}",) if i else ()))
            table.append(Ufunc(name, a.name, kernel, names, a.kernel_args or names,
                               tuple(conditions), f"fastnl.{a.name}({arguments})"))
    return table


UFUNCS = ufunc_table()
