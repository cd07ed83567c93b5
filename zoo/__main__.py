"""``python -m zoo`` (and ``torchrun ... -m zoo``): the ``zoo`` command.

For ``-m`` Python puts the current folder first on ``sys.path``; ``zoo/__init__.py`` drops that
entry before it imports anything, so modules in the folder a command runs in (a stray
``rich.py``, ``tomli_w.py``) are never imported.  The ``zoo`` console script never adds it.
"""
import sys

from zoo.cli import main

sys.exit(main())
