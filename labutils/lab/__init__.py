"""The lab wing: everything the chapters use that is not a building block.

``labutils.nn`` holds the layers (one family per file, forward/backward pairs and torch-named
modules). This package holds what the chapters *do* with them: toy datasets and tasks, the one
training loop, demo models and their decoding, shipped weights, simulations and measurements.
One file per topic (``datasets.py``, ``training.py``, ...); import the file you need, e.g.
``from labutils.lab.training import train``. Nothing heavy is imported here.
"""
