"""Sphinx extension of fastnl's documentation.

Everything that depends on what the installed fastnl exports is produced when
the docs build, so that the pages follow the package as it grows:

- :func:`write_api_pages` (called from conf.py, before Sphinx reads the
  sources) writes one autosummary page per group of public names into
  ``generated/api/``; autosummary then writes a stub per name.
- ``.. fastnl-gallery::`` writes the gallery's section of every activation
  (figure, formula, parameters, torch names, text) from the rows of
  ``fastnl._ops.ACTIVATIONS``; :func:`gallery_rst` is that reST.
- ``.. fastnl-torch-table:: functions|classes|other|own`` draws the torch ->
  fastnl tables (the activations' rows from ``fastnl._ops.ACTIVATIONS``),
  marking the names fastnl does not export yet; ``own`` lists the activations
  torch does not have.
- ``.. fastnl-selfcheck::`` runs ``python -m fastnl`` in-process and shows
  its output.
- ``.. fastnl-if-importable:: NAME [NAME ...]`` parses its content only when
  every dotted name imports (``fastnl.softmax``); otherwise it shows a note,
  or nothing with the ``:quiet:`` flag.

Figures are drawn by matplotlib's plot directive with the helpers of
``fastnl_plots``; nothing generated is committed.
"""

import contextlib
import importlib
import io
import os
import re

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from docutils.statemachine import StringList
from sphinx.util.parsing import nested_parse_to_nodes

from fastnl import _ops

# -- API pages ----------------------------------------------------------------

# (page, title, intro, predicate on (name, object)); a name goes to the first
# page whose predicate accepts it, and "other" catches anything new.
_TOP_GROUPS = [
    ("activations", "Activations",
     "Elementwise activations with the names, arguments and defaults of "
     "``torch.nn.functional``. See the :doc:`/gallery` for their curves.",
     lambda n, o: _module_of(o) == "fastnl.activations" and not n.endswith("_backward")),
    ("activation_gradients", "Gradients of the activations",
     "``<name>_backward(grad_output, x, <same parameters>)``: the gradient with respect "
     "to ``x``, as torch's autograd computes it.",
     lambda n, o: _module_of(o) == "fastnl.activations"),
    ("softmax", "Softmax family",
     "Normalisation along an axis, with an optional temperature; see the "
     ":doc:`/gallery` for the effect of the temperature.",
     lambda n, o: n.removesuffix("_backward") in _SOFTMAX_FAMILY),
    ("along_axis", "Along an axis: logsumexp, glu, gumbel_softmax, one_hot",
     "``torch.logsumexp`` and the relatives of the softmax in ``torch.nn.functional``; "
     "``dim`` and ``keepdim`` also accept NumPy's ``axis`` and ``keepdims`` (not both).",
     lambda n, o: n.removesuffix("_backward") in _ALONG_AXIS),
    ("losses", "Losses",
     "Losses with torch's reductions; see :doc:`/guides/losses`.",
     lambda n, o: _module_of(o) == "fastnl.losses" or n.removesuffix("_backward") in _LOSSES),
    ("threads", "Threads, memory and configuration",
     "See :doc:`/guides/threads`.",
     lambda n, o: _module_of(o) in ("fastnl._config", "fastnl._output_cache")),
    ("other", "Other functions", "", lambda n, o: True),
]


_SOFTMAX_FAMILY = {"softmax", "log_softmax", "softmin"}
_ALONG_AXIS = {"logsumexp", "glu", "gumbel_softmax", "one_hot"}
_LOSSES = {"mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "nll_loss", "cross_entropy",
           "kl_div", "binary_cross_entropy", "binary_cross_entropy_with_logits",
           "linear_cross_entropy", "ctc_loss"}


def _module_of(obj):
    return getattr(obj, "__module__", None)


def public_api():
    """{section: [(qualified name, object)]} of every documented public name:
    ``fastnl.__all__`` (without ``__version__``), ``fastnl.nn.__all__``,
    ``fastnl.sampling.__all__`` and ``fastnl.ufunc.__all__``."""
    import fastnl
    import fastnl.nn
    import fastnl.sampling
    import fastnl.ufunc

    sections = {}
    for name in fastnl.__all__:
        if name.startswith("__"):
            continue
        obj = getattr(fastnl, name)
        for page, _, _, accepts in _TOP_GROUPS:
            if accepts(name, obj):
                sections.setdefault(page, []).append((f"fastnl.{name}", obj))
                break
    sections["nn"] = [(f"fastnl.nn.{n}", getattr(fastnl.nn, n)) for n in fastnl.nn.__all__]
    sections["sampling"] = [(f"fastnl.sampling.{n}", getattr(fastnl.sampling, n))
                            for n in fastnl.sampling.__all__]
    sections["ufunc"] = [(f"fastnl.ufunc.{n}", getattr(fastnl.ufunc, n))
                         for n in fastnl.ufunc.__all__]
    return sections


def _titles():
    titles = {page: (title, intro) for page, title, intro, _ in _TOP_GROUPS}
    titles["nn"] = ("fastnl.nn: modules",
                    "``torch.nn``-style classes: calling a module runs its forward pass, "
                    "``backward(grad_output=None)`` returns the gradient with respect to the "
                    "last input and accumulates parameter gradients (``PReLU.weight_grad``).")
    titles["sampling"] = ("fastnl.sampling",
                          "Batch sampling for imbalanced classes; see :doc:`/guides/losses`.")
    titles["ufunc"] = ("fastnl.ufunc: NumPy ufuncs",
                       "Every elementwise activation and its gradient as a ``numpy.ufunc``, "
                       "running the same kernels as the functions of ``fastnl``: the parameters "
                       "are positional inputs that broadcast (``leaky_relu(x, negative_slope)``), "
                       "a parameter outside its domain gives NaN instead of an error, NumPy's "
                       "``out``, ``where``, ``dtype`` and ``casting`` work, and arrays of other "
                       "libraries (xarray, Dask) keep their type. ``gelu_tanh`` is gelu's tanh "
                       "form. See :doc:`/conventions`.")
    return titles


def _write_if_changed(path, text):
    # Rewriting an unchanged file would make Sphinx re-read it on every build.
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


_UFUNC_KEYWORDS = "out=None, *, where=True, casting='same_kind', order='K', dtype=None"


def _ufunc_entry(name, ufunc):
    """A ``py:function`` entry for one ufunc of fastnl.ufunc: its inputs named
    as its docstring names them (the ufunc's own signature says x1, x2, ...),
    then NumPy's keywords, and the docstring with links to the functions."""
    doc = (ufunc.__doc__ or "").split("\n\n", 1)[-1].strip()
    inputs = None
    for pattern in (r"of \(([\w, ]+)\)\.?$", r"^fastnl\.\w+\(([\w, ]+)\)"):
        match = re.search(pattern, doc)
        if match and len(match.group(1).split(",")) == ufunc.nin:
            inputs = match.group(1)
            break
    if inputs is None:
        inputs = ", ".join(f"x{i + 1}" for i in range(ufunc.nin)) if ufunc.nin > 1 else "x"
    doc = re.sub(r"\b(fastnl\.(?:ufunc\.)?\w+)(\([\w, ]*\))?",
                 lambda m: f":py:obj:`{m[0]} <{m[1]}>`", doc)
    return [f".. py:function:: {name}({inputs}, /, {_UFUNC_KEYWORDS})", "", f"   {doc}", ""]


def write_api_pages(srcdir):
    """Write generated/api/<section>.rst and generated/api/index.rst."""
    outdir = os.path.join(srcdir, "generated", "api")
    os.makedirs(outdir, exist_ok=True)
    sections, titles = public_api(), _titles()
    order = [page for page, *_ in _TOP_GROUPS] + ["nn", "sampling", "ufunc"]
    written = []
    for page in order:
        entries = sections.get(page)
        if not entries:
            continue
        title, intro = titles[page]
        lines = [title, "=" * len(title), "", intro, ""]
        if page == "ufunc":  # autodoc does not document ufunc objects: write them out
            lines += [".. py:module:: fastnl.ufunc", ""]
            for qualified, obj in entries:
                lines += _ufunc_entry(qualified.rpartition(".")[2], obj)
        else:
            lines += [".. autosummary::", "   :toctree: ../stubs", "   :nosignatures:", ""]
            lines += [f"   {qualified}" for qualified, _ in entries]
        _write_if_changed(os.path.join(outdir, f"{page}.rst"), "\n".join(lines) + "\n")
        written.append(page)
    index = ["API reference", "=============", "",
             "Every public name of ``fastnl``, ``fastnl.nn``, ``fastnl.sampling`` and "
             "``fastnl.ufunc``, "
             "listed from their ``__all__`` when these pages were built. "
             "``fastnl.__version__`` holds the version string.", "",
             ".. toctree::", "   :maxdepth: 1", ""]
    index += [f"   {page}" for page in written]
    _write_if_changed(os.path.join(outdir, "index.rst"), "\n".join(index) + "\n")
    # Pages and stubs of names that are no longer public would break the build.
    for page in os.listdir(outdir):
        if page.endswith(".rst") and page[:-4] not in written + ["index"]:
            os.remove(os.path.join(outdir, page))
    stubs = os.path.join(srcdir, "generated", "stubs")
    current = {qualified for entries in sections.values() for qualified, _ in entries}
    if os.path.isdir(stubs):
        for stub in os.listdir(stubs):
            if stub.endswith(".rst") and stub[:-4] not in current:
                os.remove(os.path.join(stubs, stub))


# -- torch -> fastnl table ----------------------------------------------------

_F = "torch.nn.functional."
_INPLACE = "``inplace=True``: pass ``out=x``."
_AXIS = ("``dim`` -> ``axis`` (``dim=`` accepted too); defaults to the last axis, where "
         "torch's implicit ``dim`` is deprecated; extra ``temperature``. Pass ``dtype`` by "
         "keyword: torch's third positional argument is ``_stacklevel``.")
_LOSS = ("Pass the arguments after ``target`` by keyword: torch's deprecated "
         "``size_average`` and ``reduce`` come first in its signature and are not accepted.")
_NO_WEIGHT = _LOSS + " No ``weight`` argument (torch 2.13 has one)."
_MARGIN = ("Pass ``reduction`` by keyword: torch's deprecated ``size_average`` and ``reduce`` "
           "come after ``margin``.")


def _torch_functions(a):
    """torch's names of a row's function, torch.<name> first where torch has one."""
    top = [f"torch.{a.torch}"] if a.torch in ("sigmoid", "tanh") else []
    return top + [_F + a.torch]


def _activation_note(a):
    """The table's differences for a row: in place, its own notes, beyond torch."""
    notes = [_INPLACE] if a.inplace else []
    notes += [a.torch_differences] if a.torch_differences else []
    notes += [f"Beyond torch: {a.beyond_torch}"] if a.beyond_torch else []
    return " ".join(notes)


# (torch name, fastnl name, argument differences); the activations from the table
TORCH_FUNCTIONS = [(", ".join(_torch_functions(a)), f"fastnl.{a.name}", _activation_note(a))
                   for a in _ops.ACTIVATIONS if a.torch]
TORCH_FUNCTIONS += [
    (_F + "softmax", "fastnl.softmax", _AXIS),
    (_F + "log_softmax", "fastnl.log_softmax", _AXIS),
    (_F + "softmin", "fastnl.softmin", _AXIS),
    ("torch.logsumexp", "fastnl.logsumexp",
     "``dim`` (an int or a tuple) also as ``axis``, ``keepdim`` as ``keepdims``. Beyond "
     "torch: the gradient where a lane holds +inf is softmax's limit (torch: NaN)."),
    (_F + "glu", "fastnl.glu", "``dim=`` also as ``axis``."),
    (_F + "gumbel_softmax", "fastnl.gumbel_softmax",
     "Extra ``rng`` (``None``, a seed or a ``numpy.random.Generator``) instead of torch's "
     "global generator; no ``eps`` (unused in torch): pass ``dim`` by keyword. "
     "``hard=True`` returns the exact one-hot; ``return_soft=True`` also returns the soft "
     "sample, which ``gumbel_softmax_backward`` takes."),
    (_F + "one_hot", "fastnl.one_hot", "Any integer dtype (torch: int64 only); the result is "
     "int64 as torch's."),
    (_F + "mse_loss", "fastnl.mse_loss", _NO_WEIGHT),
    (_F + "l1_loss", "fastnl.l1_loss", _NO_WEIGHT),
    (_F + "smooth_l1_loss", "fastnl.smooth_l1_loss", _LOSS),
    (_F + "huber_loss", "fastnl.huber_loss", "No ``weight`` argument (torch 2.13 has one)."),
    (_F + "nll_loss", "fastnl.nll_loss", _LOSS),
    (_F + "cross_entropy", "fastnl.cross_entropy", _LOSS),
    (_F + "kl_div", "fastnl.kl_div", _LOSS),
    (_F + "binary_cross_entropy", "fastnl.binary_cross_entropy", _LOSS),
    (_F + "binary_cross_entropy_with_logits", "fastnl.binary_cross_entropy_with_logits", _LOSS),
    (_F + "linear_cross_entropy", "fastnl.linear_cross_entropy",
     "``ignore_index`` defaults to -100 (``None`` is accepted, as torch's default); extra "
     "``chunk_size`` (classes per block) instead of ``options``; the K-dimensional form "
     "(``linear_weight`` (C, d1, ..., dK, in_features)) with NumPy arrays only."),
    (_F + "poisson_nll_loss", "fastnl.poisson_nll_loss",
     "Pass ``eps`` and ``reduction`` by keyword: torch's deprecated ``size_average`` stands "
     "between ``full`` and ``eps``."),
    (_F + "gaussian_nll_loss", "fastnl.gaussian_nll_loss",
     "``var`` may also be a 0-d array, one variance for every element (torch takes a Python "
     "float only)."),
    (_F + "soft_margin_loss", "fastnl.soft_margin_loss",
     _LOSS + " Beyond torch: finite where ``exp(-y x)`` overflows (torch: inf, gradient NaN)."),
    (_F + "margin_ranking_loss", "fastnl.margin_ranking_loss", _MARGIN),
    (_F + "hinge_embedding_loss", "fastnl.hinge_embedding_loss", _MARGIN),
    (_F + "multilabel_soft_margin_loss", "fastnl.multilabel_soft_margin_loss", _LOSS),
    (_F + "cosine_embedding_loss", "fastnl.cosine_embedding_loss", _MARGIN),
    (_F + "triplet_margin_loss", "fastnl.triplet_margin_loss",
     "Pass ``reduction`` by keyword: torch's deprecated ``size_average`` and ``reduce`` come "
     "after ``swap``. ``p`` must be finite (torch also takes ``inf``)."),
    (_F + "multi_margin_loss", "fastnl.multi_margin_loss",
     "Pass ``reduction`` by keyword: torch's deprecated ``size_average`` and ``reduce`` come "
     "after ``weight``. Any integer dtype of class indices."),
    (_F + "multilabel_margin_loss", "fastnl.multilabel_margin_loss", _LOSS),
    (_F + "ctc_loss", "fastnl.ctc_loss",
     "Integer targets and lengths only (torch also casts float and bool targets); a label "
     "outside [0, C) within its target length is an IndexError (torch reads out of bounds). "
     "Recursions in float64 also for float32."),
]

_NN_CLASSES = [a.module for a in _ops.ACTIVATIONS if a.torch and a.module] + [
    "Softmax", "LogSoftmax", "Softmin", "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss",
    "NLLLoss", "CrossEntropyLoss", "KLDivLoss", "BCELoss", "BCEWithLogitsLoss", "CTCLoss",
    "AdaptiveLogSoftmaxWithLoss", "GLU", "Linear", "Sequential",
    "PoissonNLLLoss", "GaussianNLLLoss", "SoftMarginLoss", "MarginRankingLoss",
    "HingeEmbeddingLoss", "MultiLabelSoftMarginLoss", "CosineEmbeddingLoss",
    "TripletMarginLoss", "MultiMarginLoss", "MultiLabelMarginLoss",
]
_NN_NOTES = {
    "PReLU": "``weight`` is a NumPy array (float32 by default); its gradient accumulates "
             "in ``weight_grad``.",
    "RReLU": "Extra ``rng`` argument; ``train()`` / ``eval()`` as in torch.",
    "Softmax": "``dim`` as in torch.", "LogSoftmax": "``dim`` as in torch.",
    "Softmin": "``dim`` as in torch.",
    "GaussianNLLLoss": "Called as ``loss(input, target, var)``; ``backward()`` returns the "
                       "gradients of input and var.",
    "MarginRankingLoss": "Called as ``loss(input1, input2, target)``; ``backward()`` returns "
                         "the gradients of input1 and input2.",
    "CosineEmbeddingLoss": "Called as ``loss(input1, input2, target)``; ``backward()`` "
                           "returns the gradients of input1 and input2.",
    "TripletMarginLoss": "``backward()`` returns the gradients of anchor, positive and "
                         "negative; ``p`` finite.",
    "AdaptiveLogSoftmaxWithLoss": "Extra ``rng`` (for the initial weights) and ``dtype``; "
                                  "``state_dict()`` with torch's keys, as NumPy arrays.",
    "GLU": "``dim`` as in torch.",
    "Linear": "Extra ``rng`` (for torch's initialisation) and ``dtype`` (float32 by "
              "default), no ``device``; the matrix product is NumPy's (BLAS). ``backward`` "
              "adds into ``weight_grad`` and ``bias_grad``.",
    "Sequential": "``backward(grad_output=None)`` runs each module's backward in reverse; "
                  "``named_parameters()`` yields ``(name, array, grad)`` under torch's names "
                  "(``0.weight``), so an SGD step is ``p -= lr * grad`` over it. "
                  "``state_dict()`` / ``load_state_dict()`` with torch's keys; ``train()``, "
                  "``eval()`` and ``zero_grad()`` reach every module.",
}
TORCH_CLASSES = [(f"torch.nn.{c}", f"fastnl.nn.{c}", _NN_NOTES.get(c, "")) for c in _NN_CLASSES]
TORCH_CLASSES += [
    ("torch.nn.LinearCrossEntropyLoss", "fastnl.nn.LinearCrossEntropy",
     "Another name and layout: holds ``weight`` and ``bias`` itself with torch.nn.Linear's "
     "keys (torch's class holds ``linear.weight``), ``bias=True`` by default as in "
     "torch.nn.Linear, extra ``rng``; no ``out_features`` or ``options``."),
]

# (fastnl name, fastnl.nn class, what it is): the activations torch does not have
FASTNL_OWN = [(f"fastnl.{a.name}", f"fastnl.nn.{a.module}" if a.module else "", a.summary)
              for a in _ops.ACTIVATIONS if not a.torch]


def _gradient_note():
    """What the backward functions of each family look like, for those that exist."""
    import fastnl

    forms = [("relu_backward", "``<name>_backward(grad_output, x, ...)`` for the activations"),
             ("softmax_backward", "``<name>_backward(grad_output, output, axis=-1, "
                                  "temperature=1.0)`` for the softmax family"),
             ("cross_entropy_backward", "``<name>_backward(input, target, ..., "
                                        "grad_output=1.0)`` for the losses"),
             ("logsumexp_backward", "``<name>_backward(input, <same arguments>, "
                                    "grad_output=1.0)`` for logsumexp, glu and "
                                    "gumbel_softmax (which takes its soft sample as "
                                    "``sample=``)")]
    present = [text for name, text in forms if hasattr(fastnl, name)]
    missing = [text.rsplit(" for ", 1)[1] for name, text in forms if not hasattr(fastnl, name)]
    note = "Explicit: " + "; ".join(present) + ". Modules have ``.backward()``."
    if missing:
        note += " Planned, not exported yet: the backward functions of " + \
            " and ".join(missing) + "."
    return note


TORCH_OTHER = [
    ("loss.backward() (autograd)", "fastnl.<name>_backward(...)", None),
    ("torch.set_num_threads / torch.get_num_threads", "fastnl.set_num_threads / "
     "fastnl.get_num_threads", "Affect fastnl only; ``fastnl.num_threads(n)`` is a context "
     "manager; ``set_num_threads(None)`` restores the default."),
]


def _exists(dotted):
    """Whether a dotted name like fastnl.nn.ReLU is exported now."""
    module, _, attr = dotted.rpartition(".")
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return False
    return hasattr(mod, attr) and attr in getattr(mod, "__all__", [attr])


def _literal(text):
    return nodes.paragraph("", "", nodes.literal(text, text))


class TorchTable(Directive):
    """``.. fastnl-torch-table:: functions|classes|other|own``"""

    required_arguments = 1

    def run(self):
        self.state.document.settings.env.note_dependency(_ops.__file__)
        if self.arguments[0] == "own":
            return self._own()
        rows = {"functions": TORCH_FUNCTIONS, "classes": TORCH_CLASSES,
                "other": TORCH_OTHER}[self.arguments[0]]
        table = nodes.table(classes=["fastnl-torch-table"])
        group = nodes.tgroup(cols=3)
        table += group
        for width in (34, 30, 36):
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        group += head
        head += self._row(nodes.paragraph(text="torch"), nodes.paragraph(text="fastnl"),
                          nodes.paragraph(text="differences"))
        body = nodes.tbody()
        group += body
        for torch_name, fastnl_name, note in rows:
            if note is None:
                note = _gradient_note()
            if self.arguments[0] == "other":
                ours = _literal(fastnl_name)
            elif _exists(fastnl_name):  # a link to its API page
                ours = self._rst(f":py:obj:`{fastnl_name}`")
            else:
                ours = nodes.paragraph("", "", _literal(fastnl_name).children[0],
                                       nodes.Text(" (planned, not exported yet)"))
            body += self._row(_literal(torch_name), ours, self._rst(note))
        return [table]

    def _own(self):
        """fastnl's activations without a torch twin: function, class, summary."""
        if not FASTNL_OWN:
            return [nodes.paragraph(text="None in this version.")]
        table = nodes.table(classes=["fastnl-torch-table"])
        group = nodes.tgroup(cols=3)
        table += group
        for width in (30, 30, 40):
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        group += head
        head += self._row(*(nodes.paragraph(text=t) for t in ("fastnl", "fastnl.nn", "what it is")))
        body = nodes.tbody()
        group += body
        for function, module, summary in FASTNL_OWN:
            cells = [self._rst(f":py:obj:`{n}`") if n and _exists(n)
                     else _literal(n) if n else nodes.paragraph() for n in (function, module)]
            body += self._row(*cells, self._rst(summary))
        return [table]

    def _rst(self, text):
        container = nodes.container()
        if text:
            self.state.nested_parse(StringList([text], "fastnl-torch-table"), 0, container)
        return container

    @staticmethod
    def _row(*cells):
        row = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            entry += cell
            row += entry
        return row


# -- gallery --------------------------------------------------------------------

_OTHER_FAMILY = "Other activations"  # the heading of rows without a family


def _value(v):
    """A parameter value as the gallery's text gives it: 0.1, 2, -1."""
    return f"{v:g}" if isinstance(v, float) else repr(v)


def _listed(items):
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _gallery_plot_args(a):
    """The figure's keyword arguments: the first case's parameters, then the row's plot."""
    return {**(a.cases[0] if a.cases else {}), **a.plot}


def _gallery_facts(a):
    """What the gallery says of every row: its parameters with their defaults (and
    the values drawn where they differ), its constraints and its torch names."""
    drawn = _gallery_plot_args(a)
    parts = []
    for p in a.params:
        notes = ["required"] if p.default is None else []
        if p.options:
            notes.append("or " + " or ".join(f"``{o!r}``" for o in p.options if o != p.default))
        if p.error:
            notes.append(p.error)
        if p.name in drawn and drawn[p.name] != p.default:
            notes.append(f"drawn with {_value(drawn[p.name])}")
        text = f"``{p.name}``" if p.default is None else f"``{p.name}={p.default!r}``"
        parts.append(text + (f" ({'; '.join(notes)})" if notes else ""))
    sentences = []
    if parts:
        sentences.append(", ".join(parts) + ".")
    elif a.custom:  # no Param rows: the first paragraph of its text gives its parameters
        sentences.append(a.gallery.split("\n\n")[0] if a.gallery else "")
    else:
        sentences.append("No parameters.")
    sentences += [f"Requires ``{condition}``." for condition, _ in a.constraints]
    if a.torch:
        names = _torch_functions(a) + ([f"torch.nn.{a.module}"] if a.module else [])
        sentences.append("Mirrors " + _listed([f"``{n}``" for n in names]) + ".")
    else:
        module = f", with the module ``fastnl.nn.{a.module}``" if a.module else ""
        sentences.append(f"Not in torch: fastnl's own{module}.")
    return " ".join(filter(None, sentences))


def _indented(text, indent="   "):
    return [indent + line if line else "" for line in text.splitlines()]


def gallery_rst(activations=None):
    """The reST of the gallery's sections: a heading per family, in the order of
    their first row, and under it a section per row in the table's order: the
    figure (``plot_activation``), the formula, the facts, the row's text and
    what it does beyond torch. Runs without Sphinx."""
    activations = _ops.ACTIVATIONS if activations is None else activations
    families = {}
    for a in activations:
        families.setdefault(a.family or _OTHER_FAMILY, []).append(a)
    lines = []
    for family, rows in families.items():
        lines += [family, "-" * len(family), ""]
        for a in rows:
            args = "".join(f", {k}={v!r}" for k, v in _gallery_plot_args(a).items())
            lines += [a.name, "~" * len(a.name), "", ".. plot::", "",
                      f"   plot_activation({a.name!r}{args})", ""]
            if a.latex:
                lines += [".. math::", ""] + _indented(a.latex) + [""]
            lines += [_gallery_facts(a), ""]
            text = a.gallery or a.summary  # without a text of its own a row still says what it is
            if a.custom and a.gallery:  # its first paragraph went into the facts
                text = text.partition("\n\n")[2]
            lines += text.splitlines() + [""]
            if a.beyond_torch:
                lines += [f"Beyond torch: {a.beyond_torch}", ""]
    return "\n".join(lines)


class Gallery(Directive):
    """``.. fastnl-gallery::``: the sections of :func:`gallery_rst`."""

    def run(self):
        # the page changes with the table: rebuild it when _ops.py changes
        self.state.document.settings.env.note_dependency(_ops.__file__)
        return nested_parse_to_nodes(self.state, gallery_rst(), source="fastnl-gallery")


# -- self-check output ----------------------------------------------------------

class SelfCheck(Directive):
    """``.. fastnl-selfcheck::``: the output of ``python -m fastnl``, run now."""

    def run(self):
        from fastnl import __main__ as selfcheck

        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            status = selfcheck.main()
        text = buffer.getvalue().rstrip()
        if status:
            text += f"\n\n(exit status {status})"
        return [nodes.literal_block(text, text)]


# -- conditional content --------------------------------------------------------

def importable(dotted):
    """Whether `dotted` (a module, or module.attribute) imports."""
    try:
        importlib.import_module(dotted)
        return True
    except ImportError:
        pass
    module, _, attr = dotted.rpartition(".")
    try:
        return hasattr(importlib.import_module(module), attr)
    except ImportError:
        return False


class IfImportable(Directive):
    """Parse the content only when every argument imports; else a short note."""

    required_arguments = 1
    optional_arguments = 10
    has_content = True
    option_spec = {"quiet": directives.flag}

    def run(self):
        missing = [name for name in self.arguments if not importable(name)]
        container = nodes.container()
        if missing and "quiet" in self.options:
            return []
        if missing:
            text = (f"This section needs {', '.join(missing)}, which the fastnl these pages "
                    "were built with does not provide yet.")
            container += nodes.note("", nodes.paragraph(text=text))
        else:
            self.state.nested_parse(self.content, self.content_offset, container)
        return container.children


def setup(app):
    app.add_directive("fastnl-gallery", Gallery)
    app.add_directive("fastnl-torch-table", TorchTable)
    app.add_directive("fastnl-selfcheck", SelfCheck)
    app.add_directive("fastnl-if-importable", IfImportable)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
