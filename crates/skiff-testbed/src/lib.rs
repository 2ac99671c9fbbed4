//! skiff-testbed (placeholder until its issue lands)
