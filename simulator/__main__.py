"""``python -m simulator``: see :mod:`simulator.cli`.

A one-shot process, so two of the interpreter's habits are skipped, each worth a good part of
a second at 4096² (benchmarks/simulator_speed.py):

* the cyclic garbage collector scans the million objects importing torch creates, over and
  over while they are created and once more at exit; it is off while torch is imported and
  those objects are then frozen out of every later collection;
* at exit the interpreter tears every module down object by object; the process ends with
  ``os._exit`` instead, once the output streams are flushed (every file it wrote is closed).
"""

import gc
import os
import sys

gc.disable()
from simulator.cli import main  # noqa: E402  (imports torch)

gc.freeze()
gc.enable()

code = main()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
