//! skiff-unpack (placeholder until its issue lands)
