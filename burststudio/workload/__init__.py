"""What is sent: the Workload table, its loaders, generators, statistics and transforms.

This package must import neither textual nor aiohttp (tests check it).
"""

from burststudio.workload.model import Workload, WorkloadMeta

__all__ = ["Workload", "WorkloadMeta"]
