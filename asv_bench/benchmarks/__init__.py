"""fastnl's asv benchmarks.

asv runs them with a clean environment (PYTHONPATH is dropped): when fastnl is
not installed in the interpreter asv uses (``--python=same``), import it from
this checkout, built in place (``python setup.py build_ext --inplace``).
"""

import os
import sys

try:
    import fastnl  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
    import fastnl  # noqa: F401
