"""Compiled kernels: scalar math (``_math.pxd``, ``_scalar.pxd``) and the loops
over them (``_elementwise``). No validation happens here; the Python layer
hands over contiguous, native-order float32/float64 buffers."""
