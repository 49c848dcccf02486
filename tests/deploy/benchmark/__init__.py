"""Tests of dualkd_lib/deploy/benchmark/ (a package: test_run.py shares its base name with tests/course/test_run.py
and tests/train/test_run.py)."""
