//! `inspect IMAGE`: what skopeo inspect prints, for every transport.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use skiff_transport::{config_bytes, open_source, registry_client, resolve_single, ImageName};

use crate::cli::{GlobalOptions, InspectArgs};
use crate::failure::Failure;
use crate::options::{open_options, platform};
use crate::output::{print_json, print_raw};
use skiff_gotemplate::{self as template, Rendering};

pub async fn run(global: &GlobalOptions, args: InspectArgs) -> Result<(), Failure> {
    let name: ImageName = args.image.parse()?;
    let open = open_options(
        global,
        &args
            .registry
            .flags(None, args.retry.retry_times, args.retry.retry_delay),
    )?;
    let source = open_source(&name, &open)?;
    let top = source.top_manifest().await?;
    if args.raw && !args.config {
        return print_raw(top.raw());
    }
    let manifest = resolve_single(source.as_ref(), &platform(global)).await?;
    let config_raw = config_bytes(source.as_ref(), &manifest).await?;
    if args.config {
        if args.raw {
            return print_raw(&config_raw);
        }
        let config = skiff_oci::convert::parse_config(&config_raw)?;
        return print_json(&serde_json::to_value(config).map_err(|e| Failure::new(e.to_string()))?);
    }
    let config: Value = serde_json::from_slice(&config_raw)
        .map_err(|e| Failure::new(format!("invalid image config: {e}")))?;
    let image = manifest.as_image()?;
    let mut output = InspectOutput {
        name: None,
        digest: top.digest().to_string(),
        repo_tags: Vec::new(),
        created: config
            .get("created")
            .and_then(Value::as_str)
            .map(str::to_string),
        docker_version: text(&config, "/docker_version"),
        labels: optional(&config, "/config/Labels")?,
        architecture: text(&config, "/architecture"),
        variant: Some(text(&config, "/variant")).filter(|v| !v.is_empty()),
        os: text(&config, "/os"),
        layers: image
            .layers()
            .iter()
            .map(|l| l.digest().to_string())
            .collect(),
        layers_data: image
            .layers()
            .iter()
            .map(|l| LayerData {
                mime_type: l.media_type().to_string(),
                digest: l.digest().to_string(),
                size: l.size(),
                annotations: l.annotations().clone().map(|a| a.into_iter().collect()),
            })
            .collect(),
        env: optional(&config, "/config/Env")?,
    };
    if let ImageName::Docker { reference: r, .. } = &name {
        output.name = Some(r.name());
        if !args.no_tags {
            let client = registry_client(&r.name(), r.registry(), &open)?;
            output.repo_tags = client.list_tags(r.repository()).await?;
        }
    }
    match &args.format {
        None => print_json(&output),
        Some(format) => match template::render(format, &output.template_value())
            .map_err(|e| Failure::new(e.to_string()))?
        {
            Rendering::Json => print_json(&output),
            Rendering::Text(text) => print_raw(text.as_bytes()),
        },
    }
}

/// A field of the config that may be absent or null.
fn optional<T: serde::de::DeserializeOwned>(
    config: &Value,
    pointer: &str,
) -> Result<Option<T>, Failure> {
    match config.pointer(pointer) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|e| Failure::new(format!("invalid image config: {pointer}: {e}"))),
    }
}

/// A string field of the config, or "" (Go's zero value) when absent.
fn text(config: &Value, pointer: &str) -> String {
    config
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// skopeo's inspect output (`cmd/skopeo/inspect.Output`): the fields, their order and
/// which ones may be omitted are skopeo's.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct InspectOutput {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    digest: String,
    repo_tags: Vec<String>,
    created: Option<String>,
    docker_version: String,
    labels: Option<BTreeMap<String, String>>,
    architecture: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<String>,
    os: String,
    layers: Vec<String>,
    layers_data: Vec<LayerData>,
    env: Option<Vec<String>>,
}

/// One entry of `LayersData` (`types.ImageInspectLayer`).
#[derive(Serialize)]
struct LayerData {
    #[serde(rename = "MIMEType")]
    mime_type: String,
    #[serde(rename = "Digest")]
    digest: String,
    #[serde(rename = "Size")]
    size: u64,
    #[serde(rename = "Annotations")]
    annotations: Option<BTreeMap<String, String>>,
}

impl InspectOutput {
    /// The output as `--format` templates see it: typed like skopeo's Go struct, so that
    /// values print as Go prints them.
    fn template_value(&self) -> template::Value {
        use template::Value as V;
        let strings = |l: &[String]| V::List(l.iter().cloned().map(V::Str).collect());
        let map = |m: &Option<BTreeMap<String, String>>| {
            V::Map(
                m.iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), V::Str(v.clone())))
                    .collect(),
            )
        };
        let fields = vec![
            ("Name", V::Str(self.name.clone().unwrap_or_default())),
            ("Tag", V::Str(String::new())),
            ("Digest", V::Digest(self.digest.clone())),
            ("RepoTags", strings(&self.repo_tags)),
            ("Created", self.created.clone().map_or(V::Nil, V::Time)),
            ("DockerVersion", V::Str(self.docker_version.clone())),
            ("Labels", map(&self.labels)),
            ("Architecture", V::Str(self.architecture.clone())),
            ("Variant", V::Str(self.variant.clone().unwrap_or_default())),
            ("Os", V::Str(self.os.clone())),
            ("Layers", strings(&self.layers)),
            (
                "LayersData",
                V::List(
                    self.layers_data
                        .iter()
                        .map(|l| {
                            V::Struct(vec![
                                ("MIMEType".into(), V::Str(l.mime_type.clone())),
                                ("Digest".into(), V::Digest(l.digest.clone())),
                                // Go's int64: a size beyond it cannot come from a
                                // manifest Go parsed; saturate rather than wrap.
                                (
                                    "Size".into(),
                                    V::Int(i64::try_from(l.size).unwrap_or(i64::MAX)),
                                ),
                                ("Annotations".into(), map(&l.annotations)),
                            ])
                        })
                        .collect(),
                ),
            ),
            ("Env", strings(self.env.as_deref().unwrap_or_default())),
        ];
        V::Struct(
            fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }
}
