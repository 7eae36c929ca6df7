//! Vendor endpoint keys at rest: sealed with ChaCha20-Poly1305 (the RustCrypto
//! `chacha20poly1305` crate, an AEAD) under a 256-bit key that the operator provides as a
//! file (`--secrets-key-file`), never stored beside the data it protects.
//!
//! Each sealed key has its own random 96-bit nonce, and the associated data binds it to
//! its row (`owner/name`), so a sealed key copied onto another vendor's endpoint row does
//! not open.

use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

/// The coordinator's key for secrets at rest.
#[derive(Clone)]
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("SecretBox(<key>)")
    }
}

/// A sealed secret as stored: hex nonce and hex ciphertext (with its tag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub nonce_hex: String,
    pub ciphertext_hex: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "cannot read the secrets key file {path}: {source}; create one with `head -c 32 /dev/urandom > {path}` (mode 0600)"
    )]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the secrets key file {path} must hold 32 random bytes (or 64 hex digits); create one with `head -c 32 /dev/urandom > {path}`"
    )]
    BadKey { path: String },
    #[error(
        "a stored endpoint key does not open with this coordinator's secrets key (another --secrets-key-file, or the row was altered); register the endpoint again with `jianzhen endpoint add`"
    )]
    Open,
    #[error("sealing a secret failed")]
    Seal,
}

impl SecretBox {
    /// # Errors
    /// The file is unreadable or not 32 bytes (raw or hex).
    pub fn from_key_file(path: &Path) -> Result<SecretBox, SecretError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| SecretError::Read {
            path: shown.clone(),
            source,
        })?;
        let key: Vec<u8> = if bytes.len() == 32 {
            bytes
        } else {
            let text = String::from_utf8_lossy(&bytes);
            hex::decode(text.trim()).map_err(|_| SecretError::BadKey {
                path: shown.clone(),
            })?
        };
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| SecretError::BadKey { path: shown })?;
        Ok(SecretBox::from_key(&key))
    }

    fn from_key(key: &[u8; 32]) -> SecretBox {
        SecretBox {
            cipher: ChaCha20Poly1305::new(&Key::from(*key)),
        }
    }

    /// # Errors
    /// Never in practice (the AEAD only fails on absurd lengths).
    pub fn seal(&self, secret: &str, bound_to: &str) -> Result<Sealed, SecretError> {
        let nonce: [u8; 12] = rand::random();
        let ciphertext = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: bound_to.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Seal)?;
        Ok(Sealed {
            nonce_hex: hex::encode(nonce),
            ciphertext_hex: hex::encode(ciphertext),
        })
    }

    /// # Errors
    /// A wrong key, altered ciphertext, or a sealed secret moved to another row.
    pub fn open(&self, sealed: &Sealed, bound_to: &str) -> Result<String, SecretError> {
        let nonce = hex::decode(&sealed.nonce_hex).map_err(|_| SecretError::Open)?;
        let ciphertext = hex::decode(&sealed.ciphertext_hex).map_err(|_| SecretError::Open)?;
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| SecretError::Open)?;
        let plain = self
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &ciphertext,
                    aad: bound_to.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Open)?;
        String::from_utf8(plain).map_err(|_| SecretError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_keys_open_only_with_the_same_key_and_row() {
        let secrets = SecretBox::from_key(&[7u8; 32]);
        let sealed = secrets.seal("sk-acme-123", "vendor:acme/v2").expect("seal");
        assert!(!sealed.ciphertext_hex.contains(&hex::encode("sk-acme-123")));
        assert_eq!(
            secrets.open(&sealed, "vendor:acme/v2").expect("open"),
            "sk-acme-123"
        );
        assert!(secrets.open(&sealed, "vendor:other/v2").is_err());
        assert!(
            SecretBox::from_key(&[8u8; 32])
                .open(&sealed, "vendor:acme/v2")
                .is_err()
        );
        let again = secrets.seal("sk-acme-123", "vendor:acme/v2").expect("seal");
        assert_ne!(again.nonce_hex, sealed.nonce_hex);
    }

    #[test]
    fn key_files_hold_32_bytes_raw_or_hex() {
        let folder = tempfile::tempdir().expect("temp dir");
        let raw = folder.path().join("raw");
        std::fs::write(&raw, [1u8; 32]).expect("write");
        assert!(SecretBox::from_key_file(&raw).is_ok());
        let hexed = folder.path().join("hex");
        std::fs::write(&hexed, format!("{}\n", hex::encode([2u8; 32]))).expect("write");
        assert!(SecretBox::from_key_file(&hexed).is_ok());
        let short = folder.path().join("short");
        std::fs::write(&short, b"password").expect("write");
        assert!(matches!(
            SecretBox::from_key_file(&short),
            Err(SecretError::BadKey { .. })
        ));
    }
}
