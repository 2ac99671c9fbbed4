use std::collections::BTreeMap;

use super::*;

fn digest(c: char) -> Digest {
    format!("sha256:{}", c.to_string().repeat(64))
        .parse()
        .unwrap()
}

fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn effect(f: &str) -> Effect {
    match f {
        "memory" => Effect::Live,
        "unprivileged" => Effect::Replace,
        _ => Effect::Restart,
    }
}

fn live(f: &[(&str, &str)], running: bool) -> Live {
    Live {
        image: "docker.io/library/busybox:1".into(),
        digest: digest('a'),
        file: "/x.yaml".into(),
        spec_hash: "h".into(),
        running,
        fields: fields(f),
    }
}

fn step_for(wanted: &[(&str, &str)], d: char, l: Option<&Live>) -> Step {
    let sensitive = |f: &str| f == "env.PW";
    step(
        "web",
        &fields(wanted),
        &digest(d),
        l,
        true,
        &effect,
        &sensitive,
    )
}

#[test]
fn each_action_is_planned_and_rendered() {
    let base = [("memory", "512M"), ("env.A", "1")];
    let create = step_for(&base, 'a', None);
    assert_eq!(create.action, Action::Create);
    assert_eq!(create.changes.len(), 2);

    let same = step_for(&base, 'a', Some(&live(&base, true)));
    assert_eq!(same.action, Action::NoChange);
    assert!(same.changes.is_empty());

    let stopped = step_for(&base, 'a', Some(&live(&base, false)));
    assert_eq!(stopped.action, Action::Start);

    let mem = step_for(
        &[("memory", "1024M"), ("env.A", "1")],
        'a',
        Some(&live(&base, true)),
    );
    assert_eq!(mem.action, Action::Update);
    assert!(!mem.restart, "memory changes live");

    let env = step_for(
        &[("memory", "512M"), ("env.A", "2")],
        'a',
        Some(&live(&base, true)),
    );
    assert_eq!(env.action, Action::Update);
    assert!(env.restart, "env needs a restart");

    let replace = step_for(&base, 'b', Some(&live(&base, true)));
    assert_eq!(replace.action, Action::Replace { from: digest('a') });

    let unpriv = step_for(
        &[("memory", "512M"), ("env.A", "1"), ("unprivileged", "true")],
        'a',
        Some(&live(&base, true)),
    );
    assert!(matches!(unpriv.action, Action::Replace { .. }));

    let plan = Plan {
        datasets: vec![DatasetStep {
            name: "tank/a".into(),
            action: Some("directory /d/tank/a (no zfs on this host)".into()),
        }],
        steps: vec![
            create,
            same,
            mem,
            env,
            replace,
            Step {
                name: "old".into(),
                action: Action::Delete,
                changes: vec![],
                digest: None,
                restart: false,
            },
        ],
    };
    let text = plan.render();
    for want in [
        "  + dataset tank/a: directory /d/tank/a (no zfs on this host)",
        "  + web create: image sha256:aaaaaaaaaaaa",
        "      + memory = \"512M\"",
        "  = web no change",
        "  ~ web update in place",
        "      ~ memory: \"512M\" → \"1024M\"  (live)",
        "  ~ web update (restart needed)",
        "      ~ env.A: \"1\" → \"2\"  (on restart)",
        "  -/+ web replace: image sha256:aaaaaaaaaaaa → sha256:bbbbbbbbbbbb (new root filesystem, mounts kept)",
        "  - old delete",
        "Plan: 1 to create, 2 to update, 1 to replace, 0 to start, 1 to delete, 1 unchanged.",
    ] {
        assert!(text.lines().any(|l| l == want), "missing {want:?} in\n{text}");
    }
    assert!(!plan.is_noop());
}

#[test]
fn secrets_are_never_printed() {
    let s = step_for(
        &[("env.PW", "hunter2hunter2")],
        'a',
        Some(&live(&[("env.PW", "old-secret")], true)),
    );
    let text = Plan {
        datasets: vec![],
        steps: vec![s],
    }
    .render();
    assert!(text.contains("env.PW: (sensitive) → (sensitive)"), "{text}");
    assert!(
        !text.contains("hunter2") && !text.contains("old-secret"),
        "{text}"
    );
}

#[test]
fn a_plan_of_unchanged_and_orphaned_containers_is_a_noop() {
    let base = [("memory", "512M")];
    let same = step_for(&base, 'a', Some(&live(&base, true)));
    let orphan = Step {
        name: "old".into(),
        action: Action::Orphan,
        changes: vec![],
        digest: None,
        restart: false,
    };
    assert!(Plan {
        datasets: vec![],
        steps: vec![same, orphan]
    }
    .is_noop());
}
