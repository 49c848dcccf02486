"""Tests of dualkd_lib/train/ (a package: test_run.py and test_distributed.py share their base names with
tests/course/test_run.py and tests/recipe/test_distributed.py)."""
