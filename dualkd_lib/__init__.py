"""dualkd_lib: the library behind the DualKD-SED course.

Dual Knowledge Distillation for Efficient Sound Event Detection (Xiao & Das,
ICASSP 2024 workshops, arXiv 2402.02781), built step by step. Each module
names the notebook that teaches it.
"""
from dualkd_lib.constants import CLASSES, CLIP_SECONDS, SAMPLE_RATE

__version__ = "0.1.0"
__all__ = ["CLASSES", "CLIP_SECONDS", "SAMPLE_RATE", "__version__"]
