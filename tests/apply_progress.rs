//! `moor apply`'s progress on stderr and its report on stdout, against the real Docker Engine,
//! with stdout and stderr piped (not terminals): plain lines, no ANSI escapes.

mod common;

use common::{expect_code, image, service_yaml, TestEnv};

const HEALTH: &str = "  healthcheck: { test: [\"CMD\", \"test\", \"-f\", \"/ok\"], interval: 1s, retries: 1 }\n";

/// The lines of `stderr` about `service`, with the service's prefix taken off.
fn steps<'a>(stderr: &'a str, service: &str) -> Vec<&'a str> {
    let prefix = format!("{service}: ");
    stderr.lines().filter_map(|l| l.strip_prefix(prefix.as_str())).collect()
}

#[tokio::test]
async fn apply_shows_each_step_of_a_health_gated_replacement_in_order() {
    image().await;
    let env = TestEnv::new("progress");
    let dir = env.manifests().to_string_lossy().into_owned();
    let svc = env.name("svc");
    env.write("svc.yaml", &service_yaml(&svc, &format!("{HEALTH}  env: {{ V: \"1\" }}\n")));

    let out = env.moor(&["apply", &dir]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = expect_code(out, 0);
    let first = steps(&stderr, &svc);
    assert_eq!(first[..2], ["creating", "starting"], "{stderr}");
    assert!(first.len() == 3 && first[2].starts_with("done in "), "{stderr}");
    assert!(stdout.contains(&format!("+ create {}\n", env.container(&svc))), "{stdout}");

    env.write("svc.yaml", &service_yaml(&svc, &format!("{HEALTH}  env: {{ V: \"2\" }}\n")));
    let out = env.moor(&["apply", &dir]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = expect_code(out, 0);
    let second = steps(&stderr, &svc);
    // stop-first: create the new one, stop the old, start the new, wait for its health, remove
    // the old; each step once, however long the health wait ticks.
    let expected = ["creating", "stopping", "starting", "waiting for health (timeout 60s)", "removing"];
    assert_eq!(second[..second.len().min(5)], expected, "{stderr}");
    assert!(second.len() == 6 && second[5].starts_with("done in "), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("applied in ") && last.ends_with('s'), "{stderr}");

    // The report is data: on stdout, in the plan's style, with no colour when piped.
    assert!(stdout.contains(&format!("~ replace {}\n    ~ env.V: \"1\" → \"2\"\n", env.container(&svc))), "{stdout}");
    assert!(stdout.ends_with("converged: 0 created, 1 replaced, 0 changed, 0 removed\n"), "{stdout}");
    for text in [&stdout, &stderr] {
        assert!(!text.contains('\x1b'), "an ANSI escape in {text:?}");
    }
    assert!(!stdout.contains("applied in"), "progress leaked onto stdout: {stdout}");
}

#[tokio::test]
async fn plan_as_yaml_carries_the_json_data() {
    image().await;
    let env = TestEnv::new("planyaml");
    let dir = env.manifests().to_string_lossy().into_owned();
    let svc = env.name("svc");
    env.write("svc.yaml", &service_yaml(&svc, ""));
    let json = expect_code(env.moor(&["plan", "-o", "json", &dir]), 2);
    let yaml = expect_code(env.moor(&["plan", "-o", "yaml", &dir]), 2);
    let from_yaml: serde_json::Value = serde_yaml::from_str(&yaml).unwrap();
    assert_eq!(from_yaml, serde_json::from_str::<serde_json::Value>(&json).unwrap());
    assert_eq!(from_yaml["services"][&svc]["actions"][0]["action"], "create", "{yaml}");
}
