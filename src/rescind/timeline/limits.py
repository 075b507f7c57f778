"""How far ``timeline convert`` lets a gzip file expand, and when it reads files in
parallel (stdlib only: the command line parser reads the defaults without loading the
timeline code)."""

from __future__ import annotations

from dataclasses import dataclass

# A CloudTrail file expands about 10-20 times; S3 delivery files are tens of MB.
DEFAULT_MAX_EXPANDED_MB = 512
DEFAULT_MAX_RATIO = 200
RATIO_FLOOR_MB = 16  # a file that expands to less than this is never stopped by the ratio
# Below this much input in all, convert reads its files in one process: starting
# workers (``timeline.workers``) would cost more than it saves.
PARALLEL_MIN_MB = 32
PARALLEL_BATCH_MB = 16  # the least a worker's batch of neighbouring files holds


@dataclass(frozen=True)
class Limits:
    """How far a gzip file may expand: in bytes, and as a multiple of its size."""

    max_expanded: int = DEFAULT_MAX_EXPANDED_MB * 2**20
    max_ratio: int = DEFAULT_MAX_RATIO
