#!/usr/bin/env python3
"""Writes the seed inputs of every fuzz target into corpus/<target>/seed-*.

Seeds are small valid (and a few nearly valid) inputs that reach the parsers' main paths;
the harness mutates from them. Crash inputs found later are added as corpus/<target>/crash-*
and kept. Rerun this script only to change seeds; it never touches crash-* files.
"""
import gzip, io, json, os, subprocess, tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)

H = "sha256:" + "a" * 64
H2 = "sha256:" + "b" * 64

for i, r in enumerate([
    "busybox", "busybox:1.36", "library/busybox:latest", "docker.io/library/busybox",
    "localhost:5000/a/b:c", "registry.example.com/ns/repo@" + H,
    "quay.io/org/img:tag@" + H, "[::1]:5000/x:y", "example.com:443/a-b_c.d/e__f:v1.0-rc",
    "index.docker.io/library/alpine", "UPPER/case", "a/b/c/d/e/f/g:h", "x@sha512:" + "c" * 128,
]):
    put("reference", f"{i:02}", r)

for i, d in enumerate([H, "sha512:" + "d" * 128, "sha384:" + "e" * 96, "sha256:ABC", "md5:00", "sha256:" + "a" * 63]):
    put("digest", f"{i:02}", d)

oci_manifest = {
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": H, "size": 123},
    "layers": [
        {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": H2, "size": 456,
         "annotations": {"org.opencontainers.image.title": "l"}},
        {"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": H, "size": 1,
         "urls": ["https://example.com/x"]},
    ],
    "annotations": {"a": "b"},
}
docker_manifest = {
    "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": H, "size": 7},
    "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": H2, "size": 9}],
}
oci_index = {
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": H, "size": 10,
         "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": H2, "size": 11,
         "platform": {"architecture": "arm", "os": "linux", "variant": "v7"}},
    ],
}
docker_list = dict(oci_index, mediaType="application/vnd.docker.distribution.manifest.list.v2+json")
artifact = dict(oci_manifest, artifactType="application/vnd.example+json",
                config={"mediaType": "application/vnd.oci.empty.v1+json", "digest": H, "size": 2})
for i, (sel, doc) in enumerate([(0, oci_manifest), (3, docker_manifest), (2, oci_index),
                                 (4, docker_list), (1, artifact), (0, {"schemaVersion": 1})]):
    put("manifest", f"{i:02}", bytes([sel]) + json.dumps(doc).encode())

config = {
    "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
    "config": {"Env": ["PATH=/bin"], "Entrypoint": ["/bin/sh"], "Cmd": ["-c", "x"],
               "User": "1000:1000", "WorkingDir": "/srv", "ExposedPorts": {"80/tcp": {}},
               "Volumes": {"/data": {}}, "Labels": {"k": "v"}, "StopSignal": "SIGTERM"},
    "rootfs": {"type": "layers", "diff_ids": [H, H2]},
    "history": [{"created_by": "x", "empty_layer": True}, {"created_by": "y"}],
}
put("config", "00", json.dumps(config))
docker_config = dict(config, container_config={"Hostname": "x"}, docker_version="24.0")
put("config", "01", json.dumps(docker_config))
put("config", "02", json.dumps({"architecture": "arm64", "os": "linux", "variant": "v8", "rootfs": {"type": "layers", "diff_ids": []}}))

for i, c in enumerate([
    'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
    'Basic realm="Registry Realm"',
    'Basic realm="x", Bearer realm="https://t/token",service="s"',
    'Bearer realm=https://unquoted/token, service=svc',
    'Bearer realm="a\\"b",error="invalid_token"',
    'Digest realm="x", nonce="y"',
]):
    put("challenge", f"{i:02}", c)

put("registries_conf", "00", '''unqualified-search-registries = ["docker.io", "quay.io"]
short-name-mode = "enforcing"

[[registry]]
prefix = "example.com/foo"
location = "mirror.example.com/bar"
insecure = true
blocked = false

[[registry.mirror]]
location = "m1.example.com"
pull-from-mirror = "digest-only"

[[registry]]
prefix = "*.example.org"
location = "internal.example.org"

[aliases]
"busybox" = "docker.io/library/busybox"
''')
put("registries_conf", "01", '''[[registry]]
location = "localhost:5000"
insecure = true
[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "localhost:5001"
insecure = true
''')
put("registries_conf", "02", 'unqualified-search-registries = []\n[registries.search]\nregistries = ["docker.io"]\n')

put("auth_json", "00", json.dumps({"auths": {
    "docker.io": {"auth": "dXNlcjpwYXNz"},
    "https://index.docker.io/v1/": {"auth": "YTpi"},
    "quay.io/a": {"auth": "Yzpk", "identitytoken": "tok"},
    "registry.example:5000": {"username": "u", "password": "p"},
}}))
put("auth_json", "01", json.dumps({"auths": {"quay.io": {"auth": "bm9jb2xvbg=="}}, "credHelpers": {"x": "y"}}))
put("auth_json", "02", "")

put("policy_json", "00", json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
put("policy_json", "01", json.dumps({
    "default": [{"type": "reject"}],
    "transports": {
        "docker": {
            "docker.io/library/busybox": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k.gpg",
                                             "signedIdentity": {"type": "matchRepository"}}],
            "example.com": [{"type": "sigstoreSigned", "keyData": "AAAA",
                             "signedIdentity": {"type": "remapIdentity", "prefix": "example.com", "signedPrefix": "mirror.example.com"}}],
            "*.example.org": [{"type": "insecureAcceptAnything"}],
            "": [{"type": "signedBy", "keyType": "GPGKeys", "keyPaths": ["/a", "/b"],
                  "signedIdentity": {"type": "exactReference", "dockerReference": "docker.io/library/busybox:1"}}],
        },
        "oci": {"": [{"type": "insecureAcceptAnything"}]},
    },
}))

examples = os.path.join(HERE, "..", "examples", "apply")
for n in sorted(os.listdir(examples)):
    if n.endswith(".yaml"):
        put("apply_file", n, open(os.path.join(examples, n), "rb").read())

put("apply_file", "pools.yaml", """version: v2
pools:
  tank:
    datasets:
      media:
        compression: lz4
        containers:
          - name: ap-seed
            type: oci
            image: tools/sleeper
            tag: v1
            registry: localhost:5000
            memory: 2G
            swap: 512M
            gpu: true
""")
put("apply_file", "containers.yaml", """containers:
  - name: db
    image: docker.io/library/postgres:16
    digest: sha256:""" + "a" * 64 + """
    cores: 2
    memory: 512
    onboot: true
    start: false
    unprivileged: true
    command: [postgres, -c, "max_connections=50"]
    env:
      POSTGRES_PASSWORD: ${secret:db}
      PEER: ${host:web}
    mounts:
      - {source: /srv/pg, target: /var/lib/postgresql/data, readonly: false}
  - name: web
    image: nginx
    depends_on: [db]
    health: "wget -q -O- http://127.0.0.1/"
""")

catalog = os.path.join(HERE, "..", "crates", "skiff-catalog", "catalog")
for n in sorted(os.listdir(catalog))[:8]:
    put("catalog_entry", n, open(os.path.join(catalog, n), "rb").read())

def tar_bytes(build, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        build(t)
    return buf.getvalue()

def add(t, name, type=tarfile.REGTYPE, data=b"", **kw):
    info = tarfile.TarInfo(name)
    info.type = type
    info.size = len(data) if type == tarfile.REGTYPE else 0
    info.mode = kw.pop("mode", 0o644)
    for k, v in kw.items():
        setattr(info, k, v)
    t.addfile(info, io.BytesIO(data) if type == tarfile.REGTYPE else None)

def basic(t):
    add(t, "etc", tarfile.DIRTYPE, mode=0o755)
    add(t, "etc/passwd", data=b"root:x:0:0::/root:/bin/sh\n")
    add(t, "etc/passwd.lnk", tarfile.LNKTYPE, linkname="etc/passwd")
    add(t, "bin/sh", tarfile.SYMTYPE, linkname="/bin/busybox")
    add(t, "usr/bin/su", data=b"x", mode=0o4755, uid=0, gid=0)
    add(t, "run/fifo", tarfile.FIFOTYPE)
    add(t, "dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3)
    add(t, "tmp", tarfile.DIRTYPE, mode=0o1777)

def whiteouts(t):
    add(t, "old/.wh.file")
    add(t, "opq/.wh..wh..opq")
    add(t, "opq/new", data=b"new")
    add(t, ".wh.gone")

def pax(t):
    info = tarfile.TarInfo("usr/bin/ping")
    info.size = 4
    info.pax_headers = {"SCHILY.xattr.user.note": "kept", "SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
                        "mtime": "1700000000.5"}
    t.addfile(info, io.BytesIO(b"ping"))
    add(t, "a" * 150 + "/" + "b" * 120, data=b"long")
    add(t, "link-to-long", tarfile.SYMTYPE, linkname="c" * 300)

def hostile(t):
    add(t, "etc", tarfile.SYMTYPE, linkname="/")
    add(t, "etc/passwd", data=b"escape?")
    add(t, "../up", data=b"x")
    add(t, "h", tarfile.LNKTYPE, linkname="../../etc/shadow")
    add(t, "dir/file", data=b"1")
    add(t, "dir", data=b"file over dir")

layers = [("basic", tar_bytes(basic)), ("whiteouts", tar_bytes(whiteouts)),
          ("pax", tar_bytes(pax)), ("gnu", tar_bytes(pax, tarfile.GNU_FORMAT)),
          ("hostile", tar_bytes(hostile))]
for name, data in layers:
    put("layer", name + ".tar", b"\x00" + data)
put("layer", "basic.tar.gz", b"\x01" + gzip.compress(layers[0][1], mtime=0))
zstd = subprocess.run(["zstd", "-q", "-c", "-3"], input=layers[2][1], capture_output=True, check=True).stdout
put("layer", "pax.tar.zst", b"\x02" + zstd)

for i, t in enumerate([
    "{{.Name}}", "{{json .}}", "table {{.Name}}\\t{{.Digest}}",
    "{{range .RepoTags}}{{.}} {{end}}", "{{range $k, $v := .Labels}}{{$k}}={{$v}}{{end}}",
    "{{if .Created}}yes{{else}}no{{end}}", "{{index .Labels \"a\"}}", "{{len .RepoTags}}",
    "{{ (((.Name))) }}", "{{with .Labels}}{{.a}}{{end}}", "{{printf \"%s-%d\" .Name .Size}}",
]):
    put("template", f"{i:02}", t)

# Deep nesting and very long tokens: the inputs that overflow stacks of recursive parsers.
DEEP = 50_000
deep = {
    "reference": "a" * DEEP + "/" + "b:" * DEEP,
    "digest": "sha256:" + "a" * DEEP,
    "manifest": "\x00" + "[" * DEEP,
    "config": "{\"config\":" * DEEP,
    "challenge": "Bearer " + "realm=\"x\"," * DEEP,
    "registries_conf": "a = " + "[" * DEEP,
    "auth_json": "{\"auths\":" + "[" * DEEP,
    "policy_json": "{\"default\":" + "[" * DEEP,
    "apply_file": "containers:\n" + "- " * DEEP + "x\n",
    "catalog_entry": "[" * DEEP,
    "template": "{{" + "(" * DEEP + ".Name" + ")" * DEEP + "}}",
}
for target, text in deep.items():
    put(target, "deep", text)
put("apply_file", "deep-flow", "{a: " * DEEP)
put("registries_conf", "deep-inline", "a = " + "{b = " * DEEP)
