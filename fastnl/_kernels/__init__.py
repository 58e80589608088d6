"""Compiled kernels: scalar math (the C headers ``fnl_math.h`` and
``fnl_activations.h``, named for the losses' Cython loops in ``_scalar.pxd``;
libm's in ``_math.pxd``) and the loops over it (``_elementwise``,
``_rowwise``, ``_losses``). No validation happens here; the Python layer hands over
contiguous, native-order float32/float64 buffers."""
