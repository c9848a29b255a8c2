"""A library of search spaces, each a factory parameterised by shapes and depth.

Load one by reference so that its architectures can be saved and rebuilt::

    from nas.space import load_space
    space = load_space("spaces.dense_skip:dense_skip_space", input_shape=(54,), output_units=7)
"""
