"""Every elementwise activation and its derivative as a NumPy ufunc.

``fastnl.ufunc.gelu(x)``, ``fastnl.ufunc.leaky_relu(x, 0.2)``,
``fastnl.ufunc.softplus(x, beta, threshold)``,
``fastnl.ufunc.gelu_backward(grad_output, x)``: the same kernels and bits as
the functions of :mod:`fastnl`, with NumPy's machinery around them:

- the parameters are inputs that broadcast against ``x`` (no defaults: a
  ufunc takes every input), computed in float64 and rounded to the data's
  dtype as the functions do;
- NumPy's keywords ``out``, ``where``, ``dtype``, ``casting``, ``order``,
  and methods such as ``at``;
- loops for float16, float32 and float64 (float16 computed in float32);
  integers and bools take NumPy's usual casts (to float64; bool to float16),
  and so does ``ml_dtypes.bfloat16``, which has no loop: to float32, the
  result float32 unless ``out=`` is bfloat16 (the functions of
  :mod:`fastnl` return bfloat16, also for arrays of other libraries);
- a parameter outside its domain gives NaN for its elements, as NumPy's own
  ufuncs do (``fastnl.celu`` raises ``ValueError`` instead);
- any array that implements ``__array_ufunc__`` works: an
  ``xarray.DataArray`` comes back as a DataArray, a ``dask.array`` stays lazy.

The threads follow :func:`fastnl.set_num_threads`; results are bitwise the
same for any thread count and any memory layout.

``gelu`` is the exact form; ``gelu_tanh`` the tanh approximation.

Examples
--------
>>> import numpy as np
>>> from fastnl import ufunc
>>> ufunc.leaky_relu(np.array([-2.0, 3.0]), 0.5)
array([-1.,  3.])
>>> ufunc.softplus(np.float32([0.0, 1.0]), [[1.0], [2.0]], 20.0)
array([[0.6931472, 1.3132616],
       [0.3465736, 1.063464 ]], dtype=float32)
>>> ufunc.celu([-1.0], 0.0)           # alpha = 0 is outside celu's domain
array([nan])
"""

from fastnl._kernels import _elementwise as _k

globals().update(_k.ufuncs)
__all__ = sorted(_k.ufuncs)
