"""How a workload is sent: plan, dispatch, client, scraper, recorder, summary.

The engine runs in its own process (DESIGN.md); this package never imports textual.
"""
