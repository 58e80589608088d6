"""In-memory drivers: the layer between the public functions and the kernels.

A driver takes operands whose parameters the public function has checked,
converts and checks the arrays (dtype policy, shapes, layouts), picks the
kernel's buffers and runs it. The public modules and the Dask
implementations (``fastnl._dask``, per block) both call these; a driver
imports neither, and knows nothing of Dask.

- :mod:`fastnl._drivers.elementwise`: the activations' kernels, prelu and rrelu;
- :mod:`fastnl._drivers.along_axis`: the softmax family;
- :mod:`fastnl._drivers.losses`: the pointwise and the class losses and their gradients;
- :mod:`fastnl._drivers.linear_losses`: the fused linear cross-entropy, over class blocks.
"""
