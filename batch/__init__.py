"""Batch catalog generation: the item-XP graph over many anchors, resumable and lossless.

Public surface::

    from xpollinate.batch import BatchJob, DefaultParts, run_batch, select_anchors

A batch is many calls of `graphs.runner.run_anchor` (one pipeline); workers (threads, or
Dask workers) return outcomes and the driver alone writes the item-XP store, one anchor
per transaction.
"""

from xpollinate.batch.anchors import AnchorSelection, read_anchor_file, select_anchors
from xpollinate.batch.driver import BatchResult, run_batch
from xpollinate.batch.jobs import BatchJob, DefaultParts, Parts, job_for
from xpollinate.batch.summary import BatchSummary

__all__ = [
    "AnchorSelection",
    "BatchJob",
    "BatchResult",
    "BatchSummary",
    "DefaultParts",
    "Parts",
    "job_for",
    "read_anchor_file",
    "run_batch",
    "select_anchors",
]
