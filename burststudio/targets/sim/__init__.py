"""The built-in engine simulator: a discrete-event model of vLLM's V1 scheduler (engine.py), its step-time cost
model (costmodel.py), and the same model served in real time over the OpenAI-compatible API (server.py)."""
