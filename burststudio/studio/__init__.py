"""The studio: the Textual app users open with `burststudio` (no arguments) or `make studio`.

It only calls the workload core, the presets and the headless replay engine (run as a child process); nothing here
is imported by those packages.
"""
