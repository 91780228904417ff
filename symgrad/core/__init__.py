"""The core: the primitive table and the IR, below every interpreter.

`rows` (what one op is), `primitives` (THE table: every row, registered once), `linalg_rows`,
`nn_ops`, `nn_fused_rows` (their rows), `symbolic` (SymPy forms and evaluation of fused expressions),
`ir` (the immutable Graph), `rewrite` and `passes` (Graph -> Graph), `location` (where in the user's
code), `logs`, `tree` (pytrees), `recording` (the recorder interface). Imports nothing above it.
"""
