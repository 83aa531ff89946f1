//! Test-only package: see `api/`.
