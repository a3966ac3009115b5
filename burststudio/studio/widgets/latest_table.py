"""The latest progress intervals (or request records, where the engine sends them), bounded to the last N rows."""

from __future__ import annotations

from textual.widgets import DataTable

COLUMNS = ("t s", "sent", "finished", "failed", "in flight", "lateness p99 ms", "TTFT p50 ms")


class LatestTable(DataTable):
    def __init__(self, max_rows: int = 200, **kwargs) -> None:
        super().__init__(cursor_type="none", zebra_stripes=True, **kwargs)
        self.max_rows = max_rows

    def on_mount(self) -> None:
        self.add_columns(*COLUMNS)

    def add_progress(self, e: dict) -> None:
        def ms(key: str) -> str:
            v = e.get(key)
            return "-" if v is None else f"{v * 1000:.1f}"

        self.add_row(f"{e.get('t') or 0:.1f}", f"{e.get('sent', 0):,}", f"{e.get('finished', 0):,}",
                     f"{e.get('failed', 0):,}", f"{e.get('in_flight', 0):,}", ms("lateness_p99_s"), ms("ttft_p50_s"))
        # Only the newest rows: a table of a whole run would cost seconds to add to (DataTable.add_rows).
        while self.row_count > self.max_rows:
            self.remove_row(next(iter(self.rows)))
        self.move_cursor(row=self.row_count - 1)
