"""The one driver from a Graph to a loaded module: derive, passes, emit, cache, variants.

`derive` (Graph -> gradient Graph), `pipeline` (derive -> passes -> emit -> cache -> load),
`variants` (the variant/guard cache every front end keeps), `cache` (content-addressed modules),
`outside` (state read outside the arguments, made safe), `calling` (argument conventions).
Code emission itself is `symgrad.codegen`.
"""
