"""What the notebooks call that is not the method: the set-up cell (:mod:`.setup`), the set-up check
(:mod:`.doctor`), figures (:mod:`.plots`, :mod:`.plots_distill`), widgets (:mod:`.widgets`), the
exercises and their checker (:mod:`.exercises`), the short learner runs (:mod:`.learner_runs`) and the
measured records the notebooks print (:mod:`.measured`).
"""
