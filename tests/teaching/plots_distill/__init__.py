"""Tests of dualkd_lib/teaching/plots_distill/ (a package: its test_ablation.py shares a base name with
tests/recipe/test_ablation.py)."""
