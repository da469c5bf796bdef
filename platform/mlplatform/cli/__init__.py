"""The ``mlp`` command line: click groups, one module per noun, imported lazily."""
