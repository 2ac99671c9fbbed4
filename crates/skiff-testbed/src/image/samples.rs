//! Ready-made images: a small runnable busybox image for end-to-end tests
//! (unpack, LXC) and big synthetic images for benchmarks.

use std::path::Path;

use super::{Compression, Format, Image, ImageBuilder, LayerBuilder};

/// Where the statically linked busybox of Debian's `busybox-static` lives.
pub const HOST_BUSYBOX: &str = "/bin/busybox";

/// Applets linked to busybox in [`busybox_image`].
const APPLETS: &[&str] = &[
    "sh", "ash", "ls", "cat", "echo", "env", "id", "pwd", "mkdir", "rm", "cp", "mv", "ln", "sleep",
    "true", "false", "grep", "sed", "head", "tail", "wc", "stat", "touch", "chmod", "chown",
    "readlink", "uname", "whoami", "test", "printf", "hostname", "ps", "kill", "find", "sort",
    "du", "df", "mount", "vi",
];

pub const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n\
app:x:1000:1000:app:/home/app:/bin/sh\n";

pub const GROUP: &str = "root:x:0:\nnogroup:x:65534:\napp:x:1000:\n";

/// A small runnable image built around the host's static busybox.
///
/// Layer 0: `/bin/busybox` plus applet symlinks (`/bin/sh`, `/bin/ls`, ...)
/// and the base directories. Layer 1: `/etc/passwd` and `/etc/group` (with
/// user and group `app`, 1000:1000), `/home/app`, `/srv/hello.txt` owned by
/// app. Config: Entrypoint `["/bin/sh","-c"]`, Cmd
/// `["echo hello from skiff; env; pwd; id"]`, Env `PATH=...` and
/// `GREETING=hello world`, WorkingDir `/srv`, Volume `/data`, StopSignal
/// `SIGTERM`, a label. Both layers are gzip-compressed.
///
/// Panics when `/bin/busybox` is missing: `apt-get install busybox-static`.
pub fn busybox_image(format: Format) -> Image {
    busybox_builder(format).build()
}

/// The builder behind [`busybox_image`], for variants (other platform, more
/// layers, other config).
pub fn busybox_builder(format: Format) -> ImageBuilder {
    let busybox = Path::new(HOST_BUSYBOX);
    assert!(
        busybox.exists(),
        "skiff-testbed: {HOST_BUSYBOX} is missing; install it with `apt-get install -y busybox-static`"
    );
    let mut base = LayerBuilder::new()
        .dir("bin", 0o755)
        .dir("etc", 0o755)
        .dir("srv", 0o755)
        .dir("data", 0o755)
        .dir("root", 0o700)
        .dir("tmp", 0o1777)
        .host_file("bin/busybox", busybox);
    for applet in APPLETS {
        base = base.symlink(&format!("bin/{applet}"), "busybox");
    }
    let etc = LayerBuilder::new()
        .file("etc/passwd", 0o644, PASSWD.as_bytes())
        .file("etc/group", 0o644, GROUP.as_bytes())
        .file("etc/hostname", 0o644, b"skiff\n")
        .dir("home", 0o755)
        .file_owned(
            "home/app/.profile",
            0o644,
            1000,
            1000,
            b"export PS1='app$ '\n",
        )
        .file_owned("srv/hello.txt", 0o644, 1000, 1000, b"hello from skiff\n");
    ImageBuilder::new(format)
        .layer(base.build(), Compression::Gzip)
        .layer(etc.build(), Compression::Gzip)
        .entrypoint(&["/bin/sh", "-c"])
        .cmd(&["echo hello from skiff; env; pwd; id"])
        .env("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .env("GREETING=hello world")
        .workdir("/srv")
        .volume("/data")
        .stop_signal("SIGTERM")
        .label("org.opencontainers.image.title", "skiff busybox test image")
}

/// splitmix64: tiny, fast, deterministic; quality is irrelevant here, only
/// that the bytes do not compress.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo).max(1))
    }

    /// 7/8 random bytes, 1/8 text: compresses only a little, like binaries.
    fn contents(&mut self, len: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(len + 8);
        let text_len = len / 8;
        while v.len() < len - text_len {
            v.extend_from_slice(&self.next().to_le_bytes());
        }
        v.truncate(len - text_len);
        let line = b"skiff benchmark filler text line\n";
        while v.len() < len {
            let n = line.len().min(len - v.len());
            v.extend_from_slice(&line[..n]);
        }
        v
    }
}

/// A big deterministic OCI image for benchmarks: `layers` gzip layers whose
/// file contents add up to about `total_bytes` (uncompressed; compressed
/// layers are ~90% of that since the content is mostly random). Like a distro
/// layer, most files are small (100 B - 16 KiB), some medium (64 KiB - 1 MiB)
/// and a few big (1/16 - 1/6 of the layer). Same `seed`, same digests.
pub fn large_image(total_bytes: u64, layers: usize, seed: u64) -> Image {
    let layers = layers.max(1);
    let per_layer = total_bytes / layers as u64;
    let tars: Vec<Vec<u8>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..layers)
            .map(|l| s.spawn(move || large_layer(l, per_layer, seed)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("layer generator"))
            .collect()
    });
    let mut b = ImageBuilder::new(Format::Oci)
        .env("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .cmd(&["/bin/sh"])
        .label(
            "org.opencontainers.image.title",
            &format!("skiff large image {total_bytes} bytes seed {seed}"),
        );
    for tar in tars {
        b = b.layer(tar, Compression::Gzip);
    }
    // Fast compression: generating the image should not dominate a benchmark.
    b.build_with_level(flate2::Compression::fast())
}

fn large_layer(index: usize, budget: u64, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed ^ (index as u64 + 1).wrapping_mul(0xA076_1D64_78BD_642F));
    let root = format!("usr/share/skiff-bench/layer{index}");
    let mut b = LayerBuilder::new()
        .dir("usr", 0o755)
        .dir("usr/share", 0o755)
        .dir("usr/share/skiff-bench", 0o755)
        .dir(&root, 0o755);
    let mut left = budget;
    let mut file = 0u64;
    let mut dir = String::new();
    while left > 0 {
        if file & 63 == 0 {
            dir = format!("{root}/d{}", file / 64);
            b = b.dir(&dir, 0o755);
        }
        let size = match rng.below(100) {
            0..=2 => rng.range(budget / 16, budget / 6 + 1),
            3..=19 => rng.range(64 << 10, 1 << 20),
            _ => rng.range(100, 16 << 10),
        }
        .clamp(1, left);
        let mode = if rng.below(10) == 0 { 0o755 } else { 0o644 };
        b = b.file(
            &format!("{dir}/f{file}.bin"),
            mode,
            &rng.contents(size as usize),
        );
        left -= size;
        file += 1;
    }
    b.build()
}
