"""The course's own experiment (DESED_task's recipe, beside the library): the :class:`~.pipeline.Context`
of a preset's data and work folder, the teacher and student runs, their metrics and the ablation
(:mod:`.pipeline`), and the shipped pre-trained models (:mod:`.pretrained`).
"""
