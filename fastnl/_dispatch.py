"""Where a public function sends arrays it does not compute in memory.

The layers point one way: the public modules (activations, along_axis,
losses) check their parameters, ask :func:`lazy` whether an operand is a
Dask array and, if so, call :func:`foreign` for the implementation; else
they call the in-memory drivers (``fastnl._drivers``), which call the
kernels. The Dask implementations live in ``fastnl._dask``, which builds on
the same drivers and is imported here on first use only, so that Dask stays
an optional dependency that an in-memory call never imports.
"""

import sys

# name -> Dask implementation, filled from fastnl._dask.IMPLEMENTATIONS
_FOREIGN = {}


def lazy(*arrays):
    """Whether any of `arrays` is a Dask array, without importing Dask: it
    cannot be one unless dask.array has been imported."""
    da = sys.modules.get("dask.array")
    return da is not None and any(isinstance(a, da.Array) for a in arrays)


def foreign(name):
    """The Dask implementation registered under `name` (a driver's name:
    'along_axis', 'pointwise_loss', 'class_loss_backward', ...)."""
    try:
        return _FOREIGN[name]
    except KeyError:
        pass
    from fastnl import _dask  # only a caller that passed a Dask array gets here
    _FOREIGN.update(_dask.IMPLEMENTATIONS)
    return _FOREIGN[name]
