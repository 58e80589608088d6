"""Sphinx configuration of fastnl's documentation.

Build (from the repository root, with the package built or installed):

    sh docs/build.sh        # sphinx-build -W --keep-going -b html docs docs/_build/html
"""

import os
import sys

import matplotlib

matplotlib.use("Agg")  # no display needed

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "_ext"))

import fastnl  # noqa: E402  (the installed package, or the checkout on PYTHONPATH)
import fastnl_docs  # noqa: E402

project = "fastnl"
author = "The fastnl developers"
copyright = "the fastnl developers"
version = release = fastnl.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    # MathJax from _static, not a CDN: formulas render offline. The package
    # (its import name has dashes) copies MathJax 3 into _static/mathjax.
    "sphinx-mathjax-offline",
    "numpydoc",
    "matplotlib.sphinxext.plot_directive",
    "fastnl_docs",
]

# The API pages are listed from the package's __all__ before Sphinx reads the
# sources, so names that land later appear without editing any page.
fastnl_docs.write_api_pages(here)

templates_path = ["_templates"]
# accuracy_table.rst is written by python -m fastnl.accuracy --rst and
# included into guides/numerics.rst: not a page of its own
exclude_patterns = ["_build", "build.sh", "Thumbs.db", ".DS_Store",
                    "guides/accuracy_table.rst"]
root_doc = "index"
default_role = "code"  # `x` in docstrings: inline code, never a broken reference

autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": False}
autodoc_typehints = "none"

numpydoc_show_class_members = False  # the class template lists members itself
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# Figures: drawn at build time into the build directory, PNG only.
plot_include_source = False
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 110)]
plot_rcparams = {"font.size": 9}
plot_pre_code = (
    "import numpy as np\n"
    "import matplotlib.pyplot as plt\n"
    "import fastnl\n"
    "from fastnl_plots import plot_activation, plot_softmax_temperatures\n"
)

html_theme = "alabaster"
html_title = f"fastnl {release}"
html_theme_options = {
    "description": "PyTorch's activations and losses on NumPy arrays",
    "page_width": "1100px",
    "sidebar_width": "230px",
}
html_static_path = []
# Where sphinx-mathjax-offline puts MathJax (the extension sets it too).
mathjax_path = "mathjax/tex-chtml.js"
