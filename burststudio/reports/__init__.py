"""Reports people share: a self-contained HTML page, PNG figures and CSV tables of runs, a comparison or a sweep.

`run_view` reduces a run to what a page shows (the time line of `timeline`, sampled points, exact CDFs); `html`,
`png` and `csv_tables` write it. Headless: no studio or terminal code.
"""
