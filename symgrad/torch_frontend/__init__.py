"""The PyTorch front end: Tensor methods and functions as thin adapters over the composites.

`_tensor_ops`, `tensor_functions(_more)`, `tensor_protocols` (NumPy protocols on Tensors),
`predicates`, `_autograd` (eager backward through the compiler), `compile_tensor` (compile a model)
and `compile_step` (compile a whole training step). `symgrad.nn`/`optim`/`autograd` build on these.
"""
