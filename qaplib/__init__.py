"""qaplib: the library behind the quantization-aware pruning companion book.

Data flows one way: ``generator`` -> ``data`` -> ``models`` -> ``train`` -> ``metrics`` ->
``plots`` -> notebooks. Import the module you need (``from qaplib import data``); importing
``qaplib`` itself is cheap and does not load TensorFlow.
"""

import os

# TensorFlow's C++ start-up chatter (CUDA probing on CPU-only machines) drowns notebook output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
