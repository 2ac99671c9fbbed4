//! The endpoints, dispatched on method and path below `/api2/json`.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Mutex;

use serde_json::{json, Value};

use super::multipart::{boundary, read_form};
use super::state::{ApiCall, Guest, State};
use super::wire::{Request, Response};
use crate::pve::oci::image_values;
use crate::pve::options::{check, indexed_key, property_string, Refusal};
use crate::pve::CtConfig;

/// Handles one request.
pub(crate) fn handle(state: &Mutex<State>, req: &mut Request<'_>) -> Response {
    let Some(path) = req.path.strip_prefix("/api2/json/") else {
        return Response::error(
            501,
            &format!("Method '{} {}' not implemented", req.method, req.path),
            None,
        );
    };
    let path = path.trim_end_matches('/').to_string();
    let (user, secret) = {
        let s = lock(state);
        (s.userid(), s.token.2.clone())
    };
    if let Err(resp) = authenticate(req, &user, &secret) {
        return resp;
    }
    // The upload's body is the file: it is read here, outside the lock.
    let params = match read_params(state, req) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let mut s = lock(state);
    s.calls.push(ApiCall {
        method: req.method.clone(),
        path: format!("/{path}"),
        params: params.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    });
    let segs: Vec<&str> = path.split('/').collect();
    let text = |k: &str| params.get(k).map(value_text);
    match (req.method.as_str(), segs.as_slice()) {
        ("GET", ["cluster", "nextid"]) => {
            let id = (100u32..).find(|id| !s.guests.contains_key(id)).unwrap_or(100);
            Response::data(json!(id.to_string()))
        }
        ("GET", ["cluster", "resources"]) => match text("type").as_deref() {
            Some("node") => Response::data(Value::Array(
                s.nodes
                    .iter()
                    .map(|n| json!({"type": "node", "id": format!("node/{}", n.name), "node": n.name, "status": "online", "maxmem": n.maxmem, "mem": n.mem}))
                    .collect(),
            )),
            Some("vm") => Response::data(Value::Array(
                s.guests
                    .iter()
                    .map(|(id, g)| json!({"type": "lxc", "id": format!("lxc/{id}"), "vmid": id, "node": g.node, "status": if g.running {"running"} else {"stopped"}, "name": g.config.keys.get("hostname")}))
                    .collect(),
            )),
            _ => Response::error(400, "Parameter verification failed.", Some(json!({"type": "only node and vm are served by the stand-in"}))),
        },
        (_, ["nodes", node, ..]) if s.node(node).is_none() => {
            Response::error(500, &format!("no such cluster node '{node}'"), None)
        }
        ("GET", ["nodes", node, "tasks", upid, "status"]) => task_status(&mut s, node, upid),
        ("GET", ["nodes", _, "storage"]) => {
            let wanted = text("content");
            Response::data(Value::Array(
                s.storages
                    .iter()
                    .filter(|st| wanted.as_ref().is_none_or(|w| st.content.iter().any(|c| c == w)))
                    .map(|st| json!({"storage": st.id, "type": "dir", "content": st.content.join(","), "shared": u8::from(st.shared), "active": 1, "enabled": 1}))
                    .collect(),
            ))
        }
        ("GET", ["nodes", _, "storage", storage, "status"]) => match s.storage(storage) {
            Some(st) => Response::data(json!({"type": "dir", "content": st.content.join(","), "shared": u8::from(st.shared), "active": 1, "enabled": 1, "storage": st.id})),
            None => Response::error(500, &format!("storage '{storage}' does not exist"), None),
        },
        ("GET", ["nodes", node, "storage", storage, "content"]) => content(&s, node, storage),
        ("POST", ["nodes", node, "storage", storage, "upload"]) => upload(&mut s, node, storage, &params),
        ("POST", ["nodes", node, "lxc"]) => create(&mut s, node, &params),
        ("GET", ["nodes", node, "lxc", vmid, "config"]) => match guest(&s, node, vmid) {
            Ok(g) => {
                let mut data = json!(g.config.keys);
                data["digest"] = json!(g.config.digest());
                // The `#` lines at the top of the file come back as one value.
                if !g.config.description.is_empty() {
                    data["description"] = json!(format!("{}\n", g.config.description));
                }
                Response::data(data)
            }
            Err(r) => r,
        },
        ("PUT", ["nodes", node, "lxc", vmid, "config"]) => update(&mut s, node, vmid, &params),
        ("POST", ["nodes", node, "lxc", vmid, "status", "start"]) => start(&mut s, node, vmid),
        ("POST", ["nodes", node, "lxc", vmid, "status", kind @ ("shutdown" | "stop")]) => stop(&mut s, node, vmid, kind),
        ("DELETE", ["nodes", node, "lxc", vmid]) => destroy(&mut s, node, vmid),
        _ => Response::error(501, &format!("Method '{} /{path}' not implemented", req.method), None),
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn authenticate(req: &Request<'_>, user: &str, secret: &str) -> Result<(), Response> {
    let Some(value) = req.head.get("authorization") else {
        return Err(Response::error(401, "No ticket", None));
    };
    let Some(token) = value.strip_prefix("PVEAPIToken=") else {
        return Err(Response::error(401, "No ticket", None));
    };
    let (id, given) = token.split_once('=').unwrap_or((token, ""));
    if id != user {
        return Err(Response::error(401, &format!("no such token '{id}'"), None));
    }
    if given != secret {
        return Err(Response::error(401, "invalid token value!", None));
    }
    Ok(())
}

fn read_params(
    state: &Mutex<State>,
    req: &mut Request<'_>,
) -> Result<BTreeMap<String, Value>, Response> {
    let mut params: BTreeMap<String, Value> = req
        .query
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    if req.length == 0 {
        return Ok(params);
    }
    let content_type = req.head.get("content-type").unwrap_or("").to_string();
    if let Some(b) = boundary(&content_type) {
        let tmp = lock(state).root.join(format!("pveupload-{:x}", rand_id()));
        let form = read_form(req.body, &b, &tmp)
            .map_err(|e| Response::error(400, &e.to_string(), None))?;
        params.extend(form.fields.into_iter().map(|(k, v)| (k, json!(v))));
        if let Some((field, filename, _)) = form.file {
            params.insert(field, json!(filename));
            params.insert("tmpfilename".into(), json!(tmp.to_string_lossy()));
        }
        return Ok(params);
    }
    let mut body = Vec::new();
    req.body
        .read_to_end(&mut body)
        .map_err(|e| Response::error(400, &e.to_string(), None))?;
    if content_type.starts_with("application/json") {
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| Response::error(400, &format!("invalid JSON: {e}"), None))?;
        let obj = v
            .as_object()
            .ok_or_else(|| Response::error(400, "JSON body must be an object", None))?;
        params.extend(obj.iter().map(|(k, v)| (k.clone(), v.clone())));
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        params.extend(url::form_urlencoded::parse(&body).map(|(k, v)| (k.into_owned(), json!(v))));
    } else {
        return Err(Response::error(
            415,
            &format!("unsupported content type '{content_type}'"),
            None,
        ));
    }
    Ok(params)
}

fn rand_id() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    (n as u64) ^ u64::from(std::process::id()).rotate_left(32)
}

fn task_status(s: &mut State, node: &str, upid: &str) -> Response {
    match s.tasks.get_mut(upid) {
        Some(t) if t.node == *node => {
            if t.polls_left > 0 {
                t.polls_left -= 1;
                return Response::data(json!({"upid": upid, "node": node, "status": "running"}));
            }
            Response::data(
                json!({"upid": upid, "node": node, "status": "stopped", "exitstatus": t.exitstatus}),
            )
        }
        _ => Response::error(500, &format!("no such task '{upid}'"), None),
    }
}

/// A template file name as pve-storage accepts it for upload (`.tar` and compressed).
fn template_name(name: &str) -> bool {
    [".tar", ".tar.gz", ".tar.xz", ".tar.zst", ".tar.bz2"]
        .iter()
        .any(|e| name.ends_with(e))
}

fn content(s: &State, node: &str, storage: &str) -> Response {
    let Some(st) = s.storage(storage) else {
        return Response::error(500, &format!("storage '{storage}' does not exist"), None);
    };
    let dir = s.template_dir(node, st);
    let mut out = Vec::new();
    if st.content.iter().any(|c| c == "vztmpl") {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_file() && template_name(&name) {
                let format = if name.ends_with(".tar") { "tar" } else { "tgz" };
                out.push(json!({"volid": format!("{storage}:vztmpl/{name}"), "content": "vztmpl", "format": format, "size": meta.len(), "ctime": meta.ctime()}));
            }
        }
    }
    Response::data(Value::Array(out))
}

fn normalize(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn upload(s: &mut State, node: &str, storage: &str, params: &BTreeMap<String, Value>) -> Response {
    let text = |k: &str| params.get(k).map(value_text);
    let Some(st) = s.storage(storage).cloned() else {
        return Response::error(500, &format!("storage '{storage}' does not exist"), None);
    };
    let (Some(tmp), Some(filename)) = (text("tmpfilename"), text("filename")) else {
        return Response::error(500, "missing temporary file name", None);
    };
    if text("content").as_deref() != Some("vztmpl") {
        return Response::error(
            400,
            "Parameter verification failed.",
            Some(json!({"content": "upload content type not allowed"})),
        );
    }
    let filename = normalize(&filename);
    if !template_name(&filename) {
        return Response::error(
            400,
            "Parameter verification failed.",
            Some(json!({"filename": "wrong file extension"})),
        );
    }
    if !st.content.iter().any(|c| c == "vztmpl") {
        return Response::error(
            500,
            &format!("storage '{storage}' does not support 'vztmpl' content"),
            None,
        );
    }
    let upid = s.task(node, "imgcopy", "");
    if s.task_fails(&upid) {
        return Response::data(json!(upid));
    }
    if let (Some(sum), Some(alg)) = (text("checksum"), text("checksum-algorithm")) {
        let got = match alg.as_str() {
            "sha256" => sha256_file(Path::new(&tmp)).unwrap_or_else(|e| e.to_string()),
            _ => format!("unsupported algorithm {alg} in the stand-in"),
        };
        if got != sum.to_ascii_lowercase() {
            s.fail_task(
                &upid,
                format!("checksum mismatch: got '{got}' != expect '{sum}'"),
            );
            let _ = std::fs::remove_file(&tmp);
            return Response::data(json!(upid));
        }
    }
    // As pve-storage: the destination is simply overwritten if it exists.
    let dir = s.template_dir(node, &st);
    let moved =
        std::fs::create_dir_all(&dir).and_then(|()| std::fs::copy(&tmp, dir.join(&filename)));
    let _ = std::fs::remove_file(&tmp);
    if let Err(e) = moved {
        s.fail_task(&upid, format!("import failed: {e}"));
    }
    Response::data(json!(upid))
}

/// The SHA-256 of a file, read in chunks (uploads may be large).
fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

fn options_of(params: &BTreeMap<String, Value>, skip: &[&str]) -> BTreeMap<String, String> {
    params
        .iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), value_text(v)))
        .collect()
}

fn refusal(r: Refusal) -> Response {
    let errors = (!r.errors.is_empty()).then(|| json!(r.errors));
    Response::error(r.status, &r.message, errors)
}

fn create(s: &mut State, node: &str, params: &BTreeMap<String, Value>) -> Response {
    let options = options_of(params, &["vmid", "node"]);
    let vmid = match params.get("vmid").map(value_text).map(|v| v.parse::<u32>()) {
        Some(Ok(v)) if (100..=999_999_999).contains(&v) => v,
        _ => {
            return Response::error(
                400,
                "Parameter verification failed.",
                Some(json!({"vmid": "value must have a minimum value of 100"})),
            )
        }
    };
    if !options.contains_key("ostemplate") {
        return Response::error(
            400,
            "Parameter verification failed.",
            Some(json!({"ostemplate": "property is missing and it is not optional"})),
        );
    }
    if let Err(r) = check(&options, true, &s.userid()) {
        return refusal(r);
    }
    if let Some(g) = s.guests.get(&vmid) {
        return Response::error(
            500,
            &format!("CT {vmid} already exists on node '{}'", g.node),
            None,
        );
    }
    let upid = s.task(node, "vzcreate", &vmid.to_string());
    if s.task_fails(&upid) {
        return Response::data(json!(upid));
    }
    match build_config(s, node, vmid, &options) {
        Ok(config) => {
            let running = options.get("start").map(String::as_str) == Some("1");
            s.guests.insert(
                vmid,
                Guest {
                    node: node.to_string(),
                    config,
                    running,
                },
            );
        }
        Err(e) => s.fail_task(&upid, format!("unable to create CT {vmid} - {e}")),
    }
    Response::data(json!(upid))
}

/// The config the create writes (the model the pct stand-in shares), after the
/// checks the node makes: the template on a `vztmpl` storage, new volumes on `rootdir`
/// storages.
fn build_config(
    s: &State,
    node: &str,
    vmid: u32,
    options: &BTreeMap<String, String>,
) -> Result<CtConfig, String> {
    let mut opts = options.clone();
    let template = opts.remove("ostemplate").unwrap_or_default();
    let (storage, file) = template
        .split_once(":vztmpl/")
        .ok_or_else(|| format!("unable to parse volume ID '{template}'"))?;
    let st = s
        .storage(storage)
        .ok_or_else(|| format!("storage '{storage}' does not exist"))?;
    let path = s.template_dir(node, st).join(file);
    if !path.is_file() {
        return Err(format!("volume '{template}' does not exist"));
    }
    let default_storage = opts.remove("storage").unwrap_or_else(|| "local".into());
    opts.entry("rootfs".into())
        .or_insert_with(|| format!("{default_storage}:4"));
    for key in ["password", "ssh-public-keys", "start", "pool", "unique"] {
        opts.remove(key);
    }
    check_volumes(s, &opts)?;
    Ok(CtConfig::created(vmid, &opts, &image_values(&path)?))
}

/// New volumes (`STORAGE:N`) only on storages with `rootdir` content.
fn check_volumes(s: &State, options: &BTreeMap<String, String>) -> Result<(), String> {
    for (key, value) in options {
        if key != "rootfs" && !indexed_key(key, "mp", 255) {
            continue;
        }
        let volume = property_string(value, Some("volume"))?
            .remove("volume")
            .unwrap_or_default();
        if let Some((storage, size)) = volume.split_once(':') {
            let new = !size.is_empty() && size.bytes().all(|b| b.is_ascii_digit() || b == b'.');
            let rootdir = s
                .storage(storage)
                .is_some_and(|st| st.content.iter().any(|c| c == "rootdir"));
            if new && !rootdir {
                return Err(format!(
                    "storage '{storage}' does not support content-type 'rootdir'"
                ));
            }
        }
    }
    Ok(())
}

fn guest<'a>(s: &'a State, node: &str, vmid: &str) -> Result<&'a Guest, Response> {
    let id: u32 = vmid.parse().map_err(|_| {
        Response::error(
            400,
            "Parameter verification failed.",
            Some(json!({"vmid": "type check ('integer') failed"})),
        )
    })?;
    match s.guests.get(&id) {
        Some(g) if g.node == node => Ok(g),
        _ => Err(Response::error(
            500,
            &format!("Configuration file 'nodes/{node}/lxc/{vmid}.conf' does not exist"),
            None,
        )),
    }
}

fn update(s: &mut State, node: &str, vmid: &str, params: &BTreeMap<String, Value>) -> Response {
    let mut options = options_of(params, &["vmid", "node"]);
    if let Err(r) = check(&options, false, &s.userid()) {
        return refusal(r);
    }
    if let Err(r) = guest(s, node, vmid) {
        return r;
    }
    if let Err(e) = check_volumes(s, &options) {
        return Response::error(500, &e, None);
    }
    let Some((id, g)) = vmid
        .parse()
        .ok()
        .and_then(|id: u32| Some((id, s.guests.get_mut(&id)?)))
    else {
        return Response::error(500, "vanished", None);
    };
    if let Some(digest) = options.remove("digest") {
        if digest != g.config.digest() {
            return Response::error(
                500,
                "detected modified configuration - file changed by other user? Try again.",
                None,
            );
        }
    }
    if let Some(delete) = options.remove("delete") {
        for key in delete.split([',', ';', ' ']).filter(|k| !k.is_empty()) {
            g.config.keys.remove(key);
        }
    }
    g.config.set_options(id, &options);
    Response::data(Value::Null)
}

fn start(s: &mut State, node: &str, vmid: &str) -> Response {
    let running = match guest(s, node, vmid) {
        Ok(g) => g.running,
        Err(r) => return r,
    };
    if running {
        return Response::error(500, &format!("CT {vmid} already running"), None);
    }
    let upid = s.task(node, "vzstart", vmid);
    if !s.task_fails(&upid) {
        if let Some(g) = vmid.parse().ok().and_then(|id: u32| s.guests.get_mut(&id)) {
            g.running = true;
        }
    }
    Response::data(json!(upid))
}

/// `…/status/shutdown` and `…/status/stop`: refused for a stopped container, as
/// pve-container's "CT N not running".
fn stop(s: &mut State, node: &str, vmid: &str, kind: &str) -> Response {
    let running = match guest(s, node, vmid) {
        Ok(g) => g.running,
        Err(r) => return r,
    };
    if !running {
        return Response::error(500, &format!("CT {vmid} not running"), None);
    }
    let upid = s.task(node, &format!("vz{kind}"), vmid);
    if !s.task_fails(&upid) {
        if let Some(g) = vmid.parse().ok().and_then(|id: u32| s.guests.get_mut(&id)) {
            g.running = false;
        }
    }
    Response::data(json!(upid))
}

/// `DELETE /nodes/{node}/lxc/{vmid}`: refused while the container runs ("CT N is running
/// - destroy failed"); the task removes it.
fn destroy(s: &mut State, node: &str, vmid: &str) -> Response {
    let running = match guest(s, node, vmid) {
        Ok(g) => g.running,
        Err(r) => return r,
    };
    if running {
        return Response::error(500, &format!("CT {vmid} is running - destroy failed"), None);
    }
    let upid = s.task(node, "vzdestroy", vmid);
    if !s.task_fails(&upid) {
        if let Ok(id) = vmid.parse::<u32>() {
            s.guests.remove(&id);
        }
    }
    Response::data(json!(upid))
}
