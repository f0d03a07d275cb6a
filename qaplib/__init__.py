"""qaplib: the library behind the quantization-aware pruning companion book.

Data flows one way: ``generator`` -> ``data`` -> ``models`` -> ``train`` -> ``metrics`` ->
``runs`` -> ``lifecycle`` -> ``store``/``sweep`` -> ``plots`` -> notebooks. A run's life is one phase
loop, :func:`qaplib.lifecycle.train_runs`; an engine (:mod:`qaplib.engines`) trains one phase of its members.
Import the module you need (``from qaplib import data``); importing
``qaplib`` itself is cheap and does not load TensorFlow.

The book is declared once, in :mod:`qaplib.manifest`: each chapter's notebook, questions, figures, parameter
defaults and the runs it trains. What ``qap sweep --profile`` trains, the table of contents and the
results-at-a-glance table derive from it.
"""

import os

# TensorFlow's C++ start-up chatter (CUDA plug-in registration on CPU-only machines, logged at
# error level although harmless) drowns notebook output. Python exceptions are unaffected.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
