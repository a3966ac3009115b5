"""BurstStudio: a terminal workload studio for LLM serving."""

__version__ = "0.1.0"
