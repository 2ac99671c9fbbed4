//! A small mutator: the byte-level edits libFuzzer applies (flips, interesting values,
//! inserts, deletions, duplications, splices, dictionary tokens), driven by a seeded PRNG so
//! that a run is reproduced exactly by its seed.

/// xorshift64*: tiny, fast and good enough to pick mutations; seeded, never from the OS.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value; 0 is remapped).
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }

    /// The next 64 random bits.
    pub fn bits(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.bits() % n.max(1) as u64) as usize
    }

    /// True one time in `n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

/// Tokens that reach the interesting branches of text formats: JSON, YAML and TOML
/// structure, numbers at the edges of their types, and the separators of references.
pub const DICTIONARY: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"null",
    b"true",
    b"-1",
    b"0",
    b"18446744073709551616",
    b"9223372036854775807",
    b"1e999",
    b"\\u0000",
    b"\\ud800",
    b"\n",
    b"\n  ",
    b"- ",
    b": ",
    b"&a ",
    b"*a",
    b"!!binary ",
    b"---\n",
    b"[[",
    b"]]",
    b"=",
    b"'",
    b"@",
    b"/",
    b":",
    b"sha256:",
    b"sha512:",
    b"..",
    b"%",
    b"\x00",
    b"\xff",
    b"\x1b[2J",
    b"localhost",
    b"docker.io/",
    b"realm=",
    b"Bearer ",
    b"Basic ",
    b"mediaType",
    b"schemaVersion",
    b"manifests",
    b"layers",
    b"size",
    b"digest",
    b"\"size\":-1",
    b"\"size\":18446744073709551615",
    b"././@LongLink",
    b"PaxHeader",
    b"SCHILY.xattr.",
    b"path=",
    b"linkpath=",
    b".wh.",
    b".wh..wh..opq",
];

/// Values that find off-by-one and overflow bugs in binary fields.
const INTERESTING: &[u8] = &[0, 1, 0x7f, 0x80, 0xff, b'0', b'7', b'9', b' ', b'/'];

/// Mutates `data` in place with one to four random edits, keeping it at most `max_len`
/// bytes; `other` is another corpus input to splice from.
pub fn mutate(data: &mut Vec<u8>, other: &[u8], rng: &mut Rng, max_len: usize) {
    let edits = 1 + rng.below(4);
    for _ in 0..edits {
        edit(data, other, rng);
    }
    data.truncate(max_len);
}

fn edit(data: &mut Vec<u8>, other: &[u8], rng: &mut Rng) {
    let len = data.len();
    match rng.below(10) {
        0 if len > 0 => {
            let i = rng.below(len);
            data[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            data[i] = INTERESTING[rng.below(INTERESTING.len())];
        }
        2 if len > 0 => {
            let i = rng.below(len);
            data[i] = rng.bits() as u8;
        }
        3 => {
            let at = rng.below(len + 1);
            let n = 1 + rng.below(8);
            let bytes: Vec<u8> = (0..n).map(|_| rng.bits() as u8).collect();
            data.splice(at..at, bytes);
        }
        4 if len > 0 => {
            let start = rng.below(len);
            let end = (start + 1 + rng.below(16.min(len - start))).min(len);
            data.drain(start..end);
        }
        5 if len > 0 => {
            // Duplicate a chunk elsewhere: builds deep nesting and long repeats.
            let start = rng.below(len);
            let end = (start + 1 + rng.below(64)).min(len);
            let chunk = data[start..end].to_vec();
            let at = rng.below(len + 1);
            let times = if rng.one_in(8) { 1 + rng.below(256) } else { 1 };
            let repeated: Vec<u8> = chunk
                .iter()
                .copied()
                .cycle()
                .take(chunk.len() * times)
                .collect();
            data.splice(at..at, repeated);
        }
        6 if !other.is_empty() => {
            // Splice: our head, the other input's tail.
            let cut = rng.below(len + 1);
            let from = rng.below(other.len());
            data.truncate(cut);
            data.extend_from_slice(&other[from..]);
        }
        7 | 8 => {
            let token = DICTIONARY[rng.below(DICTIONARY.len())];
            let at = rng.below(len + 1);
            if rng.one_in(16) {
                // Thousands of one token: deep nesting, long runs (recursion and
                // quadratic paths in parsers).
                let times = 1_000 + rng.below(20_000);
                let run: Vec<u8> = token
                    .iter()
                    .copied()
                    .cycle()
                    .take(token.len() * times)
                    .collect();
                data.splice(at..at, run);
            } else if rng.one_in(2) && len > 0 {
                let end = (at + token.len()).min(len);
                data.splice(at..end, token.iter().copied());
            } else {
                data.splice(at..at, token.iter().copied());
            }
        }
        _ if len > 0 => {
            // A decimal or octal number at a random place: sizes, modes, tar fields.
            let n = match rng.below(4) {
                0 => rng.bits(),
                1 => u64::MAX - rng.below(2) as u64,
                2 => rng.below(1 << 12) as u64,
                _ => 1 << rng.below(64),
            };
            let s = if rng.one_in(2) {
                format!("{n}")
            } else {
                format!("{n:o}")
            };
            let at = rng.below(len);
            let end = (at + s.len()).min(len);
            data.splice(at..end, s.bytes());
        }
        _ => data.push(rng.bits() as u8),
    }
}

/// Rewrites the checksum of every tar header in `tar` (walking the headers by their size
/// fields), so that mutated headers reach the unpacker instead of failing the checksum.
pub fn fix_tar_checksums(tar: &mut [u8]) {
    let mut at = 0usize;
    while at + 512 <= tar.len() {
        let header = &mut tar[at..at + 512];
        if header.iter().all(|&b| b == 0) {
            return;
        }
        header[148..156].fill(b' ');
        let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
        let field = format!("{sum:06o}\0 ");
        header[148..156].copy_from_slice(field.as_bytes());
        let size = std::str::from_utf8(&header[124..136]).ok().and_then(|s| {
            u64::from_str_radix(s.trim_matches(|c: char| c == '\0' || c == ' '), 8).ok()
        });
        let Some(size) = size.and_then(|s| usize::try_from(s).ok()) else {
            return;
        };
        let Some(next) = size
            .checked_add(511)
            .map(|s| s / 512 * 512)
            .and_then(|s| s.checked_add(at + 512))
        else {
            return;
        };
        at = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_reproduces_its_mutations() {
        let run = |seed| {
            let mut rng = Rng::new(seed);
            let mut data = b"{\"schemaVersion\":2}".to_vec();
            for _ in 0..100 {
                mutate(&mut data, b"other", &mut rng, 4096);
            }
            data
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn checksums_are_fixed_after_a_header_edit() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        b.append_data(&mut h, "a", &b"abc"[..]).unwrap();
        let mut tar = b.into_inner().unwrap();
        tar[104] = b'7'; // the mode field: 0000644 becomes 0000744
        fix_tar_checksums(&mut tar);
        let mut archive = tar::Archive::new(&tar[..]);
        let entry = archive.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(entry.header().mode().unwrap(), 0o744);
    }
}
