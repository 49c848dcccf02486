"""Tests of dualkd_lib/evaluate/scenarios.py: the DCASE scenarios and their checks."""
from __future__ import annotations

import pytest

from dualkd_lib import evaluate as ev


def test_scenarios_are_the_dcase_ones() -> None:
    assert ev.PSDS1 == ev.PSDSScenario(0.7, 0.7, None, 0, 1, 100)
    assert ev.PSDS2 == ev.PSDSScenario(0.1, 0.1, 0.3, 0.5, 1, 100)
    assert ev.DCASE2020 == ev.PSDSScenario(0.5, 0.5, 0.3, 0, 0, 100)
    assert ev.PSDS2.as_kwargs() == dict(dtc=0.1, gtc=0.1, cttc=0.3, alpha_ct=0.5, alpha_st=1, max_efpr=100)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        (dict(dtc=0.0), "dtc"),
        (dict(gtc=1.5), "gtc"),
        (dict(cttc=-0.1), "cttc"),
        (dict(alpha_ct=0.5, cttc=None), "cttc must be given"),
        (dict(alpha_st=-1.0), "alpha_st"),
        (dict(max_efpr=0.0), "max_efpr"),
    ],
)
def test_scenario_validation(kwargs: dict, word: str) -> None:
    params = {**ev.PSDS1.as_kwargs(), **kwargs}
    with pytest.raises(ValueError, match=word):
        ev.PSDSScenario(**params)
