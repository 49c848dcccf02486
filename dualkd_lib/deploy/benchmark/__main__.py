"""``python -m dualkd_lib.deploy.benchmark --probe SPEC``: the memory probe, in a fresh process.

Taught in notebook 09.
"""
import sys

from dualkd_lib.deploy.benchmark.memory import _main

sys.exit(_main())
