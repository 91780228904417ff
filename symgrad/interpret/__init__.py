"""The interpreters a primitive is applied by, and the one `bind` that chooses between them.

`trace` (the graph Builder and the NumPy-facing Tracer), `tensor_core` + `tape` (the eager Tensor
and its autograd tape, with `dtypes`, `grad_mode`, `device`, `factories`, `torch_dtype_rules`),
`tape_graph` (an eager tape as a Graph), `bind` (apply a row to traced values, Tensors or arrays).
Depends on `symgrad.core` only.
"""
