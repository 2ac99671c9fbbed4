//! skiff-transport (placeholder until its issue lands)
