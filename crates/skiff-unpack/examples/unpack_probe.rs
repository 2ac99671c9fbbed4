//! Throughput probe: `unpack_probe ROOTFS LAYER.tar[.gz|.zst]...` applies the layers in
//! order and prints MB/s of uncompressed data. The real benchmark lives in bench/.

use std::time::Instant;

use skiff_oci::media_type::Compression;
use skiff_unpack::{LayerSource, UnpackOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let root = args.next().ok_or("usage: unpack_probe ROOTFS LAYER...")?;
    let mut layers = Vec::new();
    for path in args {
        let compression = if path.ends_with(".gz") {
            Compression::Gzip
        } else if path.ends_with(".zst") {
            Compression::Zstd
        } else {
            Compression::None
        };
        layers.push(LayerSource {
            name: path.clone(),
            compression,
            expected_diff_id: None,
            reader: Box::new(std::fs::File::open(&path)?),
        });
    }
    let mut opts = UnpackOptions::default();
    if let Ok(t) = std::env::var("SKIFF_THREADS") {
        opts.threads = t.parse()?;
    }
    std::fs::create_dir_all(&root)?;
    let start = Instant::now();
    let report = skiff_unpack::unpack_layers(std::path::Path::new(&root), layers, &opts)?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} layers, {} entries, {:.1} MB in {:.2}s: {:.0} MB/s (threads={})",
        report.layers,
        report.entries,
        report.bytes as f64 / 1e6,
        secs,
        report.bytes as f64 / 1e6 / secs,
        opts.threads
    );
    for w in report.warnings {
        println!("warning: {w}");
    }
    Ok(())
}
