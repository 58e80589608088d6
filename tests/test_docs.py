"""The documentation's examples run and its lists are complete.

- the doctests of every module of the package (docstrings; found by walking
  the package, so new modules are picked up);
- the ``>>>`` examples of the pages under docs/ (when the checkout is there),
  except those inside a ``.. fastnl-if-importable::`` block whose names do not
  import, exactly as the docs build leaves them out;
- every public name (``fastnl.__all__``, ``fastnl.nn.__all__``,
  ``fastnl.sampling.__all__``) has an Examples section;
- the gallery's sections, written from ``fastnl._ops.ACTIVATIONS`` by the
  docs' Sphinx extension, cover every row (run without Sphinx);
- every public function and class is in the "Coming from PyTorch" table (or
  its list of fastnl's own activations), and (with torch installed) every
  torch name of that table exists in torch and no name of fastnl's own does.

The docs build itself (``sh docs/build.sh``) needs Sphinx and is run by CI,
not by this file.
"""

import ast
import doctest
import importlib
import inspect
import io
import pkgutil
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import fastnl
import fastnl.nn
import fastnl.sampling
from fastnl import _config

DOCS = Path(__file__).resolve().parent.parent / "docs"
FLAGS = doctest.NORMALIZE_WHITESPACE  # as tests/test_package.py


def _package_modules():
    """fastnl and every module under it, except the compiled kernels."""
    names = ["fastnl"]
    for info in pkgutil.walk_packages(fastnl.__path__, "fastnl."):
        if not info.name.startswith("fastnl._kernels"):
            names.append(info.name)
    return sorted(names)


def _run(test):
    """Run one DocTest with fresh thread settings; return (failures, report)."""
    report = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    saved = _config._n_threads
    try:
        runner.run(test, out=report.write)
    finally:
        _config._n_threads = saved
    return runner.failures, report.getvalue()


def _module_doctests():
    finder = doctest.DocTestFinder(exclude_empty=True)
    found = []
    for name in _package_modules():
        module = importlib.import_module(name)
        found += [pytest.param(test, id=test.name) for test in finder.find(module)
                  if test.examples]
    return found


@pytest.mark.parametrize("test", _module_doctests())
def test_docstring_examples(test):
    failures, report = _run(test)
    assert failures == 0, report


def test_every_module_with_public_names_has_doctests():
    with_tests = {p.values[0].globs["__name__"] for p in _module_doctests()}
    defining = {obj.__module__ for name, obj in _public()}
    assert defining <= with_tests, sorted(defining - with_tests)


# -- pages under docs/ -----------------------------------------------------------

_IF_IMPORTABLE = re.compile(r"^(\s*)\.\. fastnl-if-importable::\s*(.+?)\s*$")


def _importable(dotted):
    """As docs/_ext/fastnl_docs.importable: a module, or module.attribute."""
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


def visible_text(text):
    """`text` with the content of every ``fastnl-if-importable`` block whose names
    do not all import blanked out (line numbers kept)."""
    out, skip_indent = [], None
    for line in text.splitlines(keepends=True):
        if skip_indent is not None:
            if not line.strip() or len(line) - len(line.lstrip()) > skip_indent:
                out.append("\n")
                continue
            skip_indent = None
        match = _IF_IMPORTABLE.match(line)
        if match and not all(_importable(n) for n in match.group(2).split()):
            skip_indent = len(match.group(1))
            out.append("\n")
            continue
        out.append(line)
    return "".join(out)


def _page_test(page):
    text = visible_text(page.read_text(encoding="utf-8"))
    return doctest.DocTestParser().get_doctest(text, {}, page.stem, str(page), 0)


def _pages():
    """The pages with examples (a page without any, such as the generated
    accuracy table, has nothing to run)."""
    if not DOCS.is_dir():
        return []
    return sorted(p for p in DOCS.rglob("*.rst")
                  if not {"_build", "generated", "_templates"} & set(p.relative_to(DOCS).parts)
                  and _page_test(p).examples)


@pytest.mark.skipif(not DOCS.is_dir(), reason="docs/ is not beside tests/ (installed run)")
@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(DOCS)))
def test_page_examples(page):
    failures, report = _run(_page_test(page))
    assert failures == 0, report


def _extension():
    """docs/_ext/fastnl_docs.py, which writes the gallery and the torch tables."""
    pytest.importorskip("sphinx", reason="the gallery and tables live in the docs' Sphinx "
                                         "extension")
    if not DOCS.is_dir():
        pytest.skip("docs/ is not beside tests/ (installed run)")
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import fastnl_docs
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    return fastnl_docs


def _section(name):
    # a section titled with the name, and a figure drawn from it
    return re.compile(rf"^{name}\n~+\n\n\.\. plot::\n\n   plot_activation\('{name}'[,)]",
                      re.MULTILINE)


def test_gallery_has_every_activation():
    """Every row of the table has its section in the gallery's generated reST,
    in the table's order under each heading, and every public activation is a
    row (a function written out by hand would be missed otherwise)."""
    import fastnl.activations
    from fastnl import _ops
    text = _extension().gallery_rst()
    starts = {}
    for a in _ops.ACTIVATIONS:
        match = _section(a.name).search(text)
        assert match, a.name
        starts[a.name] = match.start()
        if a.latex:
            assert a.latex.splitlines()[0] in text, a.name
    for family in {a.family for a in _ops.ACTIVATIONS}:
        rows = [starts[a.name] for a in _ops.ACTIVATIONS if a.family == family]
        assert rows == sorted(rows), family
    names = [n for n in fastnl.activations.__all__ if not n.endswith("_backward")]
    assert set(names) <= set(starts), sorted(set(names) - set(starts))


def test_gallery_writes_a_new_row_without_docs_fields():
    """A row with only its required fields still gets a section: its summary
    stands in for the text, and it says where torch has (not) it."""
    from fastnl import _ops
    bare = _ops.Activation("brand_new", "A brand new activation.", "relu",
                           params=(_ops.Param("k", 2.0, domain="k > 0", error="must be > 0"),),
                           cases=({"k": 3.0},))
    text = _extension().gallery_rst([bare])
    assert _section("brand_new").search(text)
    assert "plot_activation('brand_new', k=3.0)" in text
    assert "``k=2.0`` (must be > 0; drawn with 3). Not in torch: fastnl's own." in text
    assert "A brand new activation." in text
    assert _extension()._OTHER_FAMILY in text


@pytest.mark.skipif(not DOCS.is_dir(), reason="docs/ is not beside tests/ (installed run)")
def test_gallery_page_takes_its_sections_from_the_table():
    # the page holds the directive and no section of its own for an activation
    from fastnl import _ops
    text = (DOCS / "gallery.rst").read_text(encoding="utf-8")
    assert re.search(r"^\.\. fastnl-gallery::$", text, re.MULTILINE)
    for a in _ops.ACTIVATIONS:
        assert not re.search(rf"^{a.name}\n~+\n", text, re.MULTILINE), a.name


def test_visible_text_hides_blocks_of_missing_names():
    text = ("a\n.. fastnl-if-importable:: fastnl.no_such_name\n   :quiet:\n\n"
            "   >>> 1 + 1\n   3\n\nb\n.. fastnl-if-importable:: fastnl.relu\n\n   kept\n")
    visible = visible_text(text)
    assert visible.splitlines() == ["a", "", "", "", "", "", "", "b",
                                    ".. fastnl-if-importable:: fastnl.relu", "", "   kept"]


# -- Examples sections --------------------------------------------------------------

def _public():
    names = [(f"fastnl.{n}", getattr(fastnl, n)) for n in fastnl.__all__ if not n.startswith("__")]
    names += [(f"fastnl.nn.{n}", getattr(fastnl.nn, n)) for n in fastnl.nn.__all__]
    names += [(f"fastnl.sampling.{n}", getattr(fastnl.sampling, n))
              for n in fastnl.sampling.__all__]
    return names


_EXAMPLES = re.compile(r"^Examples\n-{3,}\n", re.MULTILINE)


@pytest.mark.parametrize("name, obj", [pytest.param(name, obj, id=name) for name, obj in _public()])
def test_public_name_has_examples(name, obj):
    doc = inspect.cleandoc(obj.__doc__ or "")  # its own docstring, not a base class's
    assert _EXAMPLES.search(doc), f"{name} has no Examples section"


# -- the migration table ------------------------------------------------------------

@pytest.mark.parametrize("module", [fastnl.losses, fastnl.along_axis],
                         ids=lambda m: m.__name__)
def test_losses_and_softmax_family_docstrings_are_literal(module):
    """Each function's docstring is the literal in its source (no __doc__
    written at import), and every function has Parameters, Returns and
    Examples sections."""
    source = inspect.getsource(module)
    tree = ast.parse(source)
    literal = {node.name: ast.get_docstring(node, clean=True) for node in tree.body
               if isinstance(node, ast.FunctionDef)}
    assert "__doc__" not in source
    for name in module.__all__:
        doc = getattr(module, name).__doc__
        assert literal.get(name) is not None, name
        assert inspect.cleandoc(doc) == literal[name], name
        for section in ("Parameters", "Returns", "Examples"):
            assert f"\n    {section}\n    ---" in doc, (name, section)


def test_every_public_function_and_class_is_in_the_torch_table():
    docs = _extension()
    listed = {ours for _, ours, _ in docs.TORCH_FUNCTIONS + docs.TORCH_CLASSES}
    listed |= {name for function, module, _ in docs.FASTNL_OWN for name in (function, module)}
    # Threads are in the table's last part; Module, the sampler and the
    # output cache have no torch twin.
    expected = {name for name, obj in _public()
                if not name.endswith("_backward")
                and obj.__module__ not in ("fastnl._config", "fastnl._output_cache")
                and name not in ("fastnl.nn.Module", "fastnl.sampling.BalancedBatchSampler")}
    assert expected <= listed, sorted(expected - listed)


def test_torch_names_of_the_table_exist(torch):
    docs = _extension()
    for torch_names, _, _ in docs.TORCH_FUNCTIONS + docs.TORCH_CLASSES:
        for dotted in torch_names.split(", "):
            obj = torch
            for part in dotted.split(".")[1:]:
                obj = getattr(obj, part, None)
            assert obj is not None, dotted
    # fastnl's own activations are not in torch (else the table should name torch's)
    for function, module, _ in docs.FASTNL_OWN:
        assert not hasattr(torch.nn.functional, function.rpartition(".")[2]), function
        assert not hasattr(torch.nn, module.rpartition(".")[2]), module


def _absent_section():
    text = (DOCS / "guides" / "pytorch.rst").read_text(encoding="utf-8")
    section = re.search(r"^Not in fastnl\n-+\n(.*?)\n\S[^\n]*\n-+\n", text,
                        re.MULTILINE | re.DOTALL)
    assert section, "the migration guide has no 'Not in fastnl' section"
    return section.group(1)


@pytest.mark.skipif(not DOCS.is_dir(), reason="docs/ is not beside tests/ (installed run)")
def test_migration_guide_lists_what_is_absent(torch):
    """Every name the guide lists as absent is in torch 2.13 and not in
    fastnl, and every torch loss, loss or activation class, and in-place
    activation that fastnl lacks is listed."""
    import torch.nn.modules.activation as activation_classes
    import torch.nn.modules.loss as loss_classes
    F = torch.nn.functional
    bullets = _absent_section().split("\n- ")[1:3]  # losses, activations (the rest is prose)
    listed = set(re.findall(r"``([A-Za-z0-9_.]+)``", " ".join(bullets)))
    listed -= {"torch.nn.functional", "torch.nn", "nll_loss", "softmax", "out"}
    for name in listed:
        if name == "torch.logsumexp":
            assert hasattr(torch, "logsumexp") and not hasattr(fastnl, "logsumexp")
        elif name[0].isupper():
            assert hasattr(torch.nn, name) and not hasattr(fastnl.nn, name), name
        else:
            assert hasattr(F, name) and not hasattr(fastnl, name), name
    missing_losses = {n for n in dir(F) if n.endswith(("_loss", "cross_entropy"))
                      and not hasattr(fastnl, n)}
    missing_classes = {n for n in loss_classes.__all__ + activation_classes.__all__
                       if not hasattr(fastnl.nn, n)} - {"MultiheadAttention"}  # attention
    missing_in_place = {n for n in dir(F) if n.endswith("_") and not n.startswith("_")
                        and hasattr(fastnl, n[:-1]) and not hasattr(fastnl, n)}
    assert missing_losses | missing_classes | missing_in_place <= listed, \
        sorted((missing_losses | missing_classes | missing_in_place) - listed)


def test_numpy_print_options_are_the_defaults():
    # The examples' expected output assumes NumPy's default printing.
    assert np.get_printoptions()["precision"] == 8
