//! Shared by the interop tests: the GnuPG home and skopeo runner live in skiff-testbed,
//! where the binary's policy tests use them too.

pub use skiff_testbed::gpg::Gpg;
