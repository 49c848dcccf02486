"""The course machinery: build the notebooks from their sources and check them (:mod:`.build`), run them
headless (:mod:`.run`, with the kernel client of :mod:`.kernel`), and pack a classroom cache
(:mod:`.classroom_cache`). Nothing of the method lives here; ``teaching/`` never imports it.
"""
