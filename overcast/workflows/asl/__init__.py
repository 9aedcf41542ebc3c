"""The pure Amazon States Language interpreter: validation, data flow, and the step machine.

Nothing in this package does I/O or reads a clock; ``run.py`` is the thin in-process driver.
Import the public names from ``overcast.workflows``.
"""
