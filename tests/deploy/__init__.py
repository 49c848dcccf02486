"""Tests of dualkd_lib/deploy/ (a package, as is benchmark/ below it)."""
