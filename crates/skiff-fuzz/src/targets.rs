//! The fuzz targets: each takes arbitrary bytes, hands them to one parser of outside input
//! the way skiff does, and exercises what a caller would do with a successful result.
//!
//! A target may return (the input was refused with an error — the expected outcome for
//! most inputs); it must not panic, hang or allocate without bound. Where a property is
//! cheap to state (a parsed reference prints as something that parses again) the target
//! asserts it, so a wrong answer fails like a crash.

use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use skiff_oci::{convert, media_type, Digest, Manifest, ManifestKind, Platform, Reference};

/// One target: its name (the corpus directory under `fuzz/corpus/`) and its entry point.
pub struct Target {
    /// Name, also the corpus directory.
    pub name: &'static str,
    /// Runs one input; returns what happened (the error, or a word for success), which
    /// the harness uses to tell new behaviour from old.
    pub run: fn(&[u8]) -> String,
}

/// Every target, in the order the bounded harness runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "reference",
        run: reference,
    },
    Target {
        name: "digest",
        run: digest,
    },
    Target {
        name: "manifest",
        run: manifest,
    },
    Target {
        name: "config",
        run: config,
    },
    Target {
        name: "challenge",
        run: challenge,
    },
    Target {
        name: "registries_conf",
        run: registries_conf,
    },
    Target {
        name: "auth_json",
        run: auth_json,
    },
    Target {
        name: "policy_json",
        run: policy_json,
    },
    Target {
        name: "apply_file",
        run: apply_file,
    },
    Target {
        name: "catalog_entry",
        run: catalog_entry,
    },
    Target {
        name: "layer",
        run: layer,
    },
    Target {
        name: "template",
        run: template,
    },
];

/// The target called `name`.
pub fn by_name(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// Text inputs: skiff reads these files and arguments as UTF-8 and refuses anything else
/// before parsing, so invalid UTF-8 says nothing about the parser.
fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// The error of `r`, or `ok`.
fn outcome<T, E: std::fmt::Display>(r: &Result<T, E>) -> String {
    match r {
        Ok(_) => "ok".to_string(),
        Err(e) => e.to_string(),
    }
}

const NOT_TEXT: &str = "not UTF-8";

/// Image references as given on the command line (`docker://NAME`), in registries.conf
/// and in apply files.
pub fn reference(data: &[u8]) -> String {
    let Some(s) = text(data) else {
        return NOT_TEXT.into();
    };
    let parsed = [Reference::parse(s), Reference::parse_unnormalised_tag(s)];
    // A reference prints as text that parses back to the same reference.
    for (r, reparse) in parsed.iter().zip([
        Reference::parse as fn(&str) -> Result<Reference, skiff_oci::Error>,
        Reference::parse_unnormalised_tag,
    ]) {
        let Ok(r) = r else { continue };
        let shown = r.to_string();
        let again = reparse(&shown)
            .unwrap_or_else(|e| panic!("{s:?} parsed, but its rendering {shown:?} does not: {e}"));
        assert_eq!(again.to_string(), shown, "rendering of {s:?} is not stable");
        let _ = (r.api_host(), r.manifest_reference(), r.name());
        let _ = r.with_tag("latest");
    }
    let _ = Reference::names_registry(s);
    format!("{} / {}", outcome(&parsed[0]), outcome(&parsed[1]))
}

/// Digests from manifests, references and file names.
pub fn digest(data: &[u8]) -> String {
    let Some(s) = text(data) else {
        return NOT_TEXT.into();
    };
    let d = match Digest::from_str(s) {
        Ok(d) => d,
        Err(e) => return e.to_string(),
    };
    assert_eq!(d.to_string(), s, "a digest renders as it was written");
    let path = d.layout_path();
    assert!(
        !path.contains("..") && !path.starts_with('/') && path.matches('/').count() == 2,
        "digest {s:?} gives the layout path {path:?}"
    );
    let mut h = d.hasher();
    h.update(data);
    let _ = h.finish();
    format!("ok {}", d.algorithm().name())
}

/// Content types a registry may send with a manifest; the first input byte picks one.
const CONTENT_TYPES: &[Option<&str>] = &[
    None,
    Some(media_type::OCI_MANIFEST),
    Some(media_type::OCI_INDEX),
    Some(media_type::DOCKER_MANIFEST),
    Some(media_type::DOCKER_MANIFEST_LIST),
    Some("application/json"),
    Some(media_type::DOCKER_SCHEMA1_SIGNED),
    Some("text/plain"),
];

/// Manifests and indexes (OCI and Docker v2s2) as received from a registry or read from a
/// layout, then what copy does with them: verify, choose a platform, convert formats.
pub fn manifest(data: &[u8]) -> String {
    let Some((&pick, raw)) = data.split_first() else {
        return "empty".into();
    };
    let content_type = CONTENT_TYPES[usize::from(pick) % CONTENT_TYPES.len()];
    let m = match Manifest::parse(raw.to_vec(), content_type) {
        Ok(m) => m,
        Err(e) => return e.to_string(),
    };
    assert_eq!(m.raw(), raw, "a manifest keeps its exact bytes");
    assert!(
        m.verify(&Digest::sha256(raw)).is_ok(),
        "digest of the raw bytes"
    );
    let mut seen = vec![m.media_type().to_string()];
    match m.kind() {
        ManifestKind::Image(image) => {
            for d in image.layers().iter().chain([image.config()]) {
                seen.push(outcome(&skiff_oci::descriptor_digest(d)));
                seen.push(outcome(&skiff_oci::descriptor_size(d)));
            }
            let docker = convert::manifest_to_docker(image, None);
            if let Ok(c) = &docker {
                Manifest::parse(c.bytes.clone(), Some(media_type::DOCKER_MANIFEST))
                    .expect("a manifest converted to Docker parses");
            }
            let oci = convert::manifest_to_oci(image, image.config(), None);
            if let Ok(c) = &oci {
                Manifest::parse(c.bytes.clone(), Some(media_type::OCI_MANIFEST))
                    .expect("a manifest converted to OCI parses");
            }
            seen.push(outcome(&docker));
            seen.push(outcome(&oci));
            seen.push(outcome(&convert::replace_layers(
                &m,
                image.layers().clone(),
                None,
            )));
        }
        ManifestKind::Index(index) => {
            seen.push(outcome(&Platform::host().choose(index)));
            for d in index.manifests() {
                seen.push(outcome(&skiff_oci::descriptor_digest(d)));
            }
            seen.push(outcome(&convert::index_to_docker(index.manifests())));
            seen.push(outcome(&convert::index_to_oci(
                index,
                index.manifests().clone(),
            )));
            seen.push(outcome(&convert::replace_manifests(
                &m,
                index.manifests().clone(),
            )));
        }
    }
    seen.dedup();
    seen.join(" / ")
}

/// Image configs (OCI and Docker), parsed and converted to OCI as copy does.
pub fn config(data: &[u8]) -> String {
    let parsed = convert::parse_config(data);
    if let Ok(c) = &parsed {
        serde_json::to_vec(c).expect("a parsed config serialises");
    }
    let converted = convert::config_to_oci(data);
    if let Ok(c) = &converted {
        convert::parse_config(&c.bytes).expect("a config converted to OCI parses");
    }
    format!("{} / {}", outcome(&parsed), outcome(&converted))
}

/// `WWW-Authenticate` header values.
pub fn challenge(data: &[u8]) -> String {
    let Some(s) = text(data) else {
        return NOT_TEXT.into();
    };
    match skiff_registry::challenge::parse(s) {
        None => "none".into(),
        Some(skiff_registry::challenge::Challenge::Basic) => "basic".into(),
        Some(skiff_registry::challenge::Challenge::Bearer { service, scope, .. }) => {
            format!("bearer {} {}", service.is_some(), scope.is_some())
        }
    }
}

/// registries.conf (TOML), then the lookups every pull makes.
pub fn registries_conf(data: &[u8]) -> String {
    let Some(s) = text(data) else {
        return NOT_TEXT.into();
    };
    let conf = match skiff_registry::registries_conf::RegistriesConf::parse(s, "fuzz.conf") {
        Ok(c) => c,
        Err(e) => return e.to_string(),
    };
    let mut seen = Vec::new();
    for name in [
        "busybox",
        "docker.io/library/busybox:1",
        "example.com/a/b@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        "localhost:5000/x",
    ] {
        if let Ok(r) = Reference::parse(name) {
            seen.push(match conf.pull_sources(&r) {
                Ok(sources) => format!("{} sources", sources.len()),
                Err(e) => e.to_string(),
            });
        }
        seen.push(outcome(&conf.access(name)));
        seen.push(conf.is_insecure(name).to_string());
    }
    seen.join(" / ")
}

/// auth.json (containers-auth.json(5)), read from a file as skiff reads it.
pub fn auth_json(data: &[u8]) -> String {
    let Some(file) = scratch_file(data) else {
        return "no scratch file".into();
    };
    let mut seen = Vec::new();
    for (registry, repo) in [
        ("docker.io", Some("library/busybox")),
        ("registry.example:5000", None),
        ("quay.io", Some("a/b")),
    ] {
        let found = skiff_registry::credentials::lookup_for(Some(file.path()), registry, repo);
        seen.push(match found {
            Ok(c) => format!("ok {}", c.is_some()),
            Err(e) => e.to_string(),
        });
    }
    seen.join(" / ")
}

/// policy.json (containers-policy.json(5)).
pub fn policy_json(data: &[u8]) -> String {
    let policy = match skiff_trust::Policy::from_json(data, Path::new("/fuzz/policy.json")) {
        Ok(p) => p,
        Err(e) => return e.to_string(),
    };
    for name in ["docker.io/library/busybox:1", "example.com/a/b:c"] {
        if let Ok(r) = Reference::parse(name) {
            let _ = policy.requirements_for(&skiff_trust::PolicyScope::docker(&r));
        }
    }
    "ok".into()
}

/// The `skiff apply` file (YAML), with the built-in catalog for `catalog:` apps (parsed
/// once: the fuzzer calls this millions of times).
pub fn apply_file(data: &[u8]) -> String {
    static CATALOG: std::sync::OnceLock<Option<skiff_catalog::Catalog>> =
        std::sync::OnceLock::new();
    let Some(s) = text(data) else {
        return NOT_TEXT.into();
    };
    // skiff-catalog's own tests keep the built-in catalog parsing.
    let Some(catalog) = CATALOG.get_or_init(|| skiff_catalog::Catalog::builtin().ok()) else {
        return "no built-in catalog".into();
    };
    outcome(&skiff_apply::file::parse(
        Path::new("/fuzz/apps.yaml"),
        s,
        catalog,
    ))
}

/// One catalog entry (YAML), parsed and checked as `skiff catalog` loads user entries.
pub fn catalog_entry(data: &[u8]) -> String {
    let Some(s) = text(data) else {
        return NOT_TEXT.into();
    };
    format!(
        "{} / {}",
        outcome(&skiff_catalog::parse_entry("fuzz.yaml", "fuzz", s)),
        outcome(&skiff_catalog::placeholders(s))
    )
}

/// A layer stream (tar headers and contents, plain or compressed as the first byte says)
/// unpacked into a fresh temporary root, as `skiff unpack` applies it.
pub fn layer(data: &[u8]) -> String {
    let Some((&pick, blob)) = data.split_first() else {
        return "empty".into();
    };
    let compression = match pick % 3 {
        0 => media_type::Compression::None,
        1 => media_type::Compression::Gzip,
        _ => media_type::Compression::Zstd,
    };
    let root = match tempfile::tempdir() {
        Ok(r) => r,
        Err(e) => return e.to_string(),
    };
    let options = skiff_unpack::UnpackOptions {
        // Tight enough that an input cannot fill the disk, loose enough to reach every path.
        limits: skiff_unpack::Limits {
            max_layer_bytes: 64 << 20,
            max_entries: 10_000,
            ..skiff_unpack::Limits::default()
        },
        threads: usize::from(pick & 4 != 0) * 2,
        ..skiff_unpack::UnpackOptions::default()
    };
    let layer = skiff_unpack::LayerSource {
        name: "fuzz".into(),
        compression,
        expected_diff_id: None,
        reader: Box::new(std::io::Cursor::new(blob.to_vec())),
    };
    match skiff_unpack::unpack_layers(root.path(), [layer], &options) {
        Ok(report) => format!("ok {:?}", report.per_layer.first().map(|l| &l.counts)),
        Err(e) => e.to_string(),
    }
}

/// `inspect --format` templates (Go text/template), rendered over data shaped like
/// `inspect`'s output.
pub fn template(data: &[u8]) -> String {
    use skiff_gotemplate::Value;
    let Some(s) = text(data) else {
        return NOT_TEXT.into();
    };
    let labels = [("a".to_string(), Value::Str("b".into()))]
        .into_iter()
        .collect();
    let value = Value::Struct(vec![
        (
            "Name".into(),
            Value::Str("docker.io/library/busybox".into()),
        ),
        ("Digest".into(), Value::Str("sha256:00".into())),
        (
            "RepoTags".into(),
            Value::List(vec![Value::Str("1".into()), Value::Str("latest".into())]),
        ),
        ("Labels".into(), Value::Map(labels)),
        ("Size".into(), Value::Int(-3)),
        ("Created".into(), Value::Bool(true)),
    ]);
    match skiff_gotemplate::render(s, &value) {
        Ok(skiff_gotemplate::Rendering::Json) => "json".into(),
        Ok(skiff_gotemplate::Rendering::Text(_)) => "ok".into(),
        Err(e) => e.to_string(),
    }
}

/// `data` in a temporary file, for parsers that read a path.
fn scratch_file(data: &[u8]) -> Option<tempfile::NamedTempFile> {
    let mut f = tempfile::NamedTempFile::new().ok()?;
    f.write_all(data).ok()?;
    Some(f)
}
