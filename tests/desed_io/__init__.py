"""Tests of dualkd_lib/desed_io/ (a package: test_audio.py shares its base name with tests/predict/test_audio.py)."""
