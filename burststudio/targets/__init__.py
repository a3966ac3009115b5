"""Where a workload is sent: one small interface (base.py), three kinds (url, vllm, sim)."""
