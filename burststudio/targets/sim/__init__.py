"""The built-in engine simulator: a discrete-event model of vLLM's V1 scheduler (scheduler.py, with request.py and
blocks.py), driven over a whole plan in virtual time (engine.py; run.py writes it as a run directory), its step-time
cost model (costmodel.py), and the same model served in real time over the OpenAI-compatible API (server.py)."""
