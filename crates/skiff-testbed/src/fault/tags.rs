//! Tag-list paging the way the distribution spec, Docker Hub and distribution 3 do it,
//! for registries (Debian's docker-registry 2.8) that ignore `n` and answer everything.

use std::io;

/// One page of a full `{"name":…,"tags":[…]}` answer, for the query of
/// `path` (`n`, `last`), and the path of the next page if there is one.
pub(super) fn page_tag_list(path: &str, full: &[u8]) -> io::Result<(Vec<u8>, Option<String>)> {
    let invalid = |e: serde_json::Error| io::Error::new(io::ErrorKind::InvalidData, e);
    let mut list: serde_json::Value = serde_json::from_slice(full).map_err(invalid)?;
    let mut tags: Vec<String> = serde_json::from_value(list["tags"].take()).map_err(invalid)?;
    tags.sort();
    let (base, query) = path.split_once('?').unwrap_or((path, ""));
    let param = |key: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
    };
    let n = param("n").and_then(|n| n.parse::<usize>().ok());
    if let Some(last) = param("last") {
        tags.retain(|t| t.as_str() > last);
    }
    let next = match n {
        Some(n) if n > 0 && tags.len() > n => {
            tags.truncate(n);
            Some(format!("{base}?last={}&n={n}", tags[n - 1]))
        }
        _ => None,
    };
    list["tags"] = tags.into();
    Ok((serde_json::to_vec(&list).map_err(invalid)?, next))
}
