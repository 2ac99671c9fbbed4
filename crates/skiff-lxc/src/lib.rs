//! skiff-lxc (placeholder until its issue lands)
