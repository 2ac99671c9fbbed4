//! Content digests and streaming hashing.

use std::fmt;
use std::str::FromStr;

use sha2::Digest as _;

use crate::Error;

/// The hash algorithms a digest may name. The OCI spec registers sha256 and sha512;
/// everything in practice is sha256.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// `sha256`, 64 lowercase hex characters.
    Sha256,
    /// `sha512`, 128 lowercase hex characters.
    Sha512,
}

impl Algorithm {
    /// The algorithm's name as written in a digest string.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// A validated content digest such as `sha256:e3b0c442…`.
///
/// Validation happens once, at parse time, so a `Digest` can be used safely as a file name
/// component (`blobs/sha256/<hex>`): the hex part is guaranteed to be lowercase hex only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// The sha256 digest of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Digest {
        let mut h = DigestHasher::new(Algorithm::Sha256);
        h.update(bytes);
        h.finish()
    }

    /// The digest of `bytes` computed with this digest's algorithm; used to verify content.
    pub fn of_same_kind(&self, bytes: &[u8]) -> Digest {
        let mut h = DigestHasher::new(self.algorithm);
        h.update(bytes);
        h.finish()
    }

    /// The algorithm part.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The hex part, lowercase, validated.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// A fresh hasher for this digest's algorithm.
    pub fn hasher(&self) -> DigestHasher {
        DigestHasher::new(self.algorithm)
    }

    /// The relative path of this blob inside an OCI layout (`blobs/sha256/<hex>`).
    pub fn layout_path(&self) -> String {
        format!("blobs/{}/{}", self.algorithm.name(), self.hex)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

impl FromStr for Digest {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let (alg, hex) = s
            .split_once(':')
            .ok_or_else(|| Error::InvalidDigest(s.to_string(), "expected ALGORITHM:HEX"))?;
        let algorithm = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => {
                return Err(Error::InvalidDigest(
                    s.to_string(),
                    "unsupported algorithm (sha256 and sha512 are supported)",
                ))
            }
        };
        if hex.len() != algorithm.hex_len() {
            return Err(Error::InvalidDigest(
                s.to_string(),
                "wrong length for its algorithm",
            ));
        }
        if !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(Error::InvalidDigest(
                s.to_string(),
                "hex part must be lowercase hexadecimal",
            ));
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_string(),
        })
    }
}

impl TryFrom<&oci_spec::image::Digest> for Digest {
    type Error = Error;
    fn try_from(d: &oci_spec::image::Digest) -> Result<Self, Error> {
        d.to_string().parse()
    }
}

impl From<&Digest> for oci_spec::image::Digest {
    fn from(d: &Digest) -> Self {
        // A validated skiff digest is always a valid oci-spec digest.
        oci_spec::image::Digest::from_str(&d.to_string()).expect("validated digest")
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Incremental hashing, so that a blob is verified while it streams.
#[derive(Clone)]
pub struct DigestHasher(Inner);

#[derive(Clone)]
enum Inner {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl DigestHasher {
    /// A hasher for `algorithm`.
    pub fn new(algorithm: Algorithm) -> Self {
        DigestHasher(match algorithm {
            Algorithm::Sha256 => Inner::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => Inner::Sha512(sha2::Sha512::new()),
        })
    }

    /// Feeds more bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.0 {
            Inner::Sha256(h) => h.update(bytes),
            Inner::Sha512(h) => h.update(bytes),
        }
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Digest {
        let (algorithm, hex) = match self.0 {
            Inner::Sha256(h) => (Algorithm::Sha256, hex::encode(h.finalize())),
            Inner::Sha512(h) => (Algorithm::Sha512, hex::encode(h.finalize())),
        };
        Digest { algorithm, hex }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn digest_of_empty_input_is_the_well_known_value() {
        assert_eq!(Digest::sha256(b"").to_string(), EMPTY);
    }

    #[test]
    fn parses_and_round_trips() {
        let d: Digest = EMPTY.parse().unwrap();
        assert_eq!(d.to_string(), EMPTY);
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_eq!(d.layout_path(), format!("blobs/sha256/{}", &EMPTY[7..]));
    }

    #[test]
    fn refuses_malformed_digests() {
        for bad in [
            "",
            "sha256",
            "sha256:",
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
            "sha256:../../../../etc/passwd000000000000000000000000000000000000000000",
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn streaming_equals_one_shot() {
        let mut h = DigestHasher::new(Algorithm::Sha512);
        h.update(b"hello ");
        h.update(b"world");
        let d = h.finish();
        let mut one = DigestHasher::new(Algorithm::Sha512);
        one.update(b"hello world");
        assert_eq!(d, one.finish());
        assert_eq!(d.hex().len(), 128);
    }
}
