//! Which certificate authorities idbroker's outbound HTTPS clients trust: the STS client and
//! the identity-provider fetcher take the same `TrustRoots`.
//!
//! - Mozilla's roots are compiled in, so an image without a system trust store (a slim or
//!   distroless base, or one whose `ca-certificates` was left out) still reaches AWS STS and
//!   the public providers.
//! - The system store adds to them when it has any: a private CA installed the usual way
//!   (`update-ca-certificates`, `SSL_CERT_FILE`) is trusted as before.
//! - An extra PEM file (`IDBROKER_EXTRA_CA_FILE`) adds a private PKI's roots without touching
//!   the image.
//!
//! Every certificate is parsed here, once, at start-up: a broken extra file stops the process
//! with its path and the reason, instead of failing (or, in the AWS client, panicking) on the
//! first connection.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// The roots, with how many came from where (for the start-up log).
#[derive(Clone)]
pub struct TrustRoots {
    certs: Vec<CertificateDer<'static>>,
    counts: RootCounts,
    system_errors: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootCounts {
    /// Mozilla's, compiled in.
    pub bundled: usize,
    /// From the system store (zero in an image without one).
    pub system: usize,
    /// From the extra CA file.
    pub extra: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("cannot read the extra CA file {}: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("the extra CA file {} holds no usable certificate: {reason}", path.display())]
    Unusable { path: PathBuf, reason: String },
}

impl std::fmt::Debug for TrustRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustRoots")
            .field("counts", &self.counts)
            .finish_non_exhaustive()
    }
}

impl TrustRoots {
    /// Mozilla's roots, the system's, and those of `extra_ca_file` (PEM, one or more
    /// certificates) if given.
    pub fn load(extra_ca_file: Option<&Path>) -> Result<Self, TrustError> {
        // Unreadable system certificates are skipped (the bundled roots stand in for them)
        // but kept as warnings for the start-up log.
        let native = rustls_native_certs::load_native_certs();
        let mut roots = Self::with_system(native.certs);
        roots.system_errors = native
            .errors
            .iter()
            .map(|e| e.to_string().chars().take(300).collect())
            .collect();
        match extra_ca_file {
            Some(path) => {
                let pem = read_bounded(path).map_err(|reason| TrustError::Unreadable {
                    path: path.to_path_buf(),
                    reason,
                })?;
                roots.with_extra_pem(path, &pem)
            }
            None => Ok(roots),
        }
    }

    /// What could not be read from the system store (its certificates were skipped).
    pub fn system_errors(&self) -> &[String] {
        &self.system_errors
    }

    /// Mozilla's roots alone: what a client trusts on a machine with no system store.
    pub fn bundled() -> Self {
        Self::with_system(Vec::new())
    }

    /// Mozilla's roots and those of `system` that a root store accepts.
    pub fn with_system(system: Vec<CertificateDer<'static>>) -> Self {
        let mut certs = Vec::new();
        let bundled = keep_parsable(
            webpki_root_certs::TLS_SERVER_ROOT_CERTS.to_vec(),
            &mut certs,
        );
        let system = keep_parsable(system, &mut certs);
        Self {
            certs,
            counts: RootCounts {
                bundled,
                system,
                extra: 0,
            },
            system_errors: Vec::new(),
        }
    }

    /// Adds the certificates of a PEM file (`path` names it in errors): all of them must be
    /// usable roots, and there must be at least one.
    pub fn with_extra_pem(mut self, path: &Path, pem: &[u8]) -> Result<Self, TrustError> {
        let unusable = |reason: String| TrustError::Unusable {
            path: path.to_path_buf(),
            reason,
        };
        let found = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| unusable(format!("not PEM: {e}")))?;
        if found.is_empty() {
            return Err(unusable(
                "no `-----BEGIN CERTIFICATE-----` block".to_owned(),
            ));
        }
        for (n, cert) in found.iter().enumerate() {
            RootCertStore::empty()
                .add(cert.clone())
                .map_err(|e| unusable(format!("certificate {} of the file: {e}", n + 1)))?;
        }
        self.counts.extra += found.len();
        self.certs.extend(found);
        Ok(self)
    }

    pub fn counts(&self) -> RootCounts {
        self.counts
    }

    /// Every root as DER, for clients that take certificates one by one.
    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.certs
    }

    /// Every root as one PEM document, for clients that take PEM.
    pub fn to_pem(&self) -> Vec<u8> {
        let mut pem = String::new();
        for cert in &self.certs {
            pem.push_str("-----BEGIN CERTIFICATE-----\n");
            let body = STANDARD.encode(cert.as_ref());
            for line in body.as_bytes().chunks(64) {
                pem.push_str(&String::from_utf8_lossy(line));
                pem.push('\n');
            }
            pem.push_str("-----END CERTIFICATE-----\n");
        }
        pem.into_bytes()
    }
}

/// The largest extra CA file read: a whole system bundle is well under 1 MiB.
const MAX_EXTRA_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Reads a regular file of at most `MAX_EXTRA_FILE_BYTES` (a FIFO would block start-up and a
/// device like /dev/zero never ends).
fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".to_owned());
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_EXTRA_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_EXTRA_FILE_BYTES {
        return Err(format!("larger than {MAX_EXTRA_FILE_BYTES} bytes"));
    }
    Ok(bytes)
}

/// Appends the certificates a root store accepts to `into`; returns how many.
fn keep_parsable(
    certs: Vec<CertificateDer<'static>>,
    into: &mut Vec<CertificateDer<'static>>,
) -> usize {
    let before = into.len();
    for cert in certs {
        if RootCertStore::empty().add(cert.clone()).is_ok() {
            into.push(cert);
        }
    }
    into.len() - before
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The subjects' common names of the roots, read crudely from the DER (good enough to
    /// find a name the test expects).
    fn contains_root_named(roots: &TrustRoots, name: &str) -> bool {
        roots
            .certificates()
            .iter()
            .any(|c| c.as_ref().windows(name.len()).any(|w| w == name.as_bytes()))
    }

    #[test]
    fn without_a_system_store_the_bundled_roots_cover_aws_and_the_public_providers() {
        let roots = TrustRoots::with_system(Vec::new());
        let counts = roots.counts();
        assert!(counts.bundled > 100, "{counts:?}");
        assert_eq!((counts.system, counts.extra), (0, 0));
        // STS (Amazon Trust Services, and Starfield for older chains), Google, Apple and
        // Facebook/Amazon's public CAs (DigiCert).
        for root in [
            "Amazon Root CA 1",
            "Starfield Services Root Certificate Authority - G2",
            "GTS Root R1",
            "DigiCert Global Root G2",
        ] {
            assert!(contains_root_named(&roots, root), "{root} is missing");
        }
    }

    #[test]
    fn the_pem_form_holds_every_root_and_reads_back() {
        let roots = TrustRoots::bundled();
        let pem = roots.to_pem();
        let back: Vec<_> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back.as_slice(), roots.certificates());
    }

    #[test]
    fn an_extra_file_adds_its_roots_and_a_broken_one_is_refused_with_its_path() {
        let path = Path::new("/etc/idbroker/ca.pem");
        let one = TrustRoots::bundled().to_pem();
        let first = one
            .split(|&b| b == b'\n')
            .take_while(|l| !l.starts_with(b"-----END"))
            .count();
        let block: Vec<u8> = one
            .split(|&b| b == b'\n')
            .take(first + 1)
            .flat_map(|l| l.iter().copied().chain([b'\n']))
            .collect();
        let roots = TrustRoots::bundled().with_extra_pem(path, &block).unwrap();
        assert_eq!(roots.counts().extra, 1);
        assert_eq!(roots.certificates().len(), roots.counts().bundled + 1);

        for (bad, why) in [
            (&b"just text"[..], "no `-----BEGIN CERTIFICATE-----` block"),
            (
                &b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"[..],
                "certificate 1 of the file",
            ),
        ] {
            let err = TrustRoots::bundled()
                .with_extra_pem(path, bad)
                .unwrap_err()
                .to_string();
            assert!(err.contains("/etc/idbroker/ca.pem"), "{err}");
            assert!(err.contains(why), "{err}");
        }
        let err = TrustRoots::load(Some(Path::new("/nonexistent/ca.pem")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cannot read the extra CA file /nonexistent/ca.pem"),
            "{err}"
        );
    }
}
