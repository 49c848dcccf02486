"""Edge deployment of a trained student: ONNX export and int8 (:mod:`.export`), latency, real-time factor
and memory (:mod:`.benchmark`), chunked streaming inference (:mod:`.streaming`). Taught in notebook 09.
"""
