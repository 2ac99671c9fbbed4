//! skiff-registry (placeholder until its issue lands)
