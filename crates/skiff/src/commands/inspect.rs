//! `inspect IMAGE`: what skopeo inspect prints, for every transport.

use serde_json::{json, Map, Value};
use skiff_transport::{config_bytes, open_source, qualify, resolve_single, ImageName};

use crate::cli::{GlobalOptions, InspectArgs};
use crate::failure::Failure;
use crate::options::{open_options, platform};
use crate::output::print_json;

pub async fn run(global: &GlobalOptions, args: InspectArgs) -> Result<(), Failure> {
    if args.format.is_some() {
        return Err(Failure::new(
            "--format templates are not supported; pipe the JSON through jq instead",
        ));
    }
    let name: ImageName = args.image.parse()?;
    let open = open_options(global, &args.registry.flags(None, args.retry_times, None))?;
    let source = open_source(&name, &open)?;
    let top = source.top_manifest().await?;
    if args.raw && !args.config {
        return crate::output::print_raw(top.raw());
    }
    let manifest = resolve_single(source.as_ref(), &platform(global)).await?;
    let config_raw = config_bytes(source.as_ref(), &manifest).await?;
    if args.config {
        if args.raw {
            return crate::output::print_raw(&config_raw);
        }
        let config = skiff_oci::convert::parse_config(&config_raw)?;
        return print_json(&serde_json::to_value(config).map_err(|e| Failure::new(e.to_string()))?);
    }
    let config: Value = serde_json::from_slice(&config_raw)
        .map_err(|e| Failure::new(format!("invalid image config: {e}")))?;
    let image = manifest.as_image()?;
    let mut out = Map::new();
    let mut repo_tags = Vec::new();
    if let ImageName::Docker { reference, .. } = &name {
        let r = qualify(reference, &name, &open)?;
        out.insert("Name".into(), json!(r.name()));
        if !args.no_tags {
            let client = skiff_registry::RegistryClient::new(r.registry(), open.registry.clone())?;
            repo_tags = client.list_tags(r.repository()).await?;
        }
    }
    out.insert("Digest".into(), json!(top.digest().to_string()));
    out.insert("RepoTags".into(), json!(repo_tags));
    if let Some(created) = config.get("created") {
        out.insert("Created".into(), created.clone());
    }
    out.insert(
        "DockerVersion".into(),
        json!(config
            .get("docker_version")
            .and_then(Value::as_str)
            .unwrap_or("")),
    );
    out.insert(
        "Labels".into(),
        config
            .pointer("/config/Labels")
            .cloned()
            .unwrap_or(Value::Null),
    );
    out.insert(
        "Architecture".into(),
        config.get("architecture").cloned().unwrap_or(json!("")),
    );
    if let Some(v) = config
        .get("variant")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
    {
        out.insert("Variant".into(), json!(v));
    }
    out.insert("Os".into(), config.get("os").cloned().unwrap_or(json!("")));
    out.insert(
        "Layers".into(),
        json!(image
            .layers()
            .iter()
            .map(|l| l.digest().to_string())
            .collect::<Vec<_>>()),
    );
    out.insert(
        "LayersData".into(),
        json!(image
            .layers()
            .iter()
            .map(|l| json!({
                "MIMEType": l.media_type().to_string(),
                "Digest": l.digest().to_string(),
                "Size": l.size(),
                "Annotations": l.annotations(),
            }))
            .collect::<Vec<_>>()),
    );
    out.insert(
        "Env".into(),
        config
            .pointer("/config/Env")
            .cloned()
            .unwrap_or(Value::Null),
    );
    print_json(&Value::Object(out))
}
