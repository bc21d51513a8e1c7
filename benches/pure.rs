//! The pure layers: load and validate, spec hash, plan. `cargo bench --bench pure`.
//! The plan runs on an in-sync set (the no-op case); the target (BENCHMARKS.md #5) is under 5 ms
//! at 1,000 services. `load_10000_problems` locates a problem in each of 10,000 documents (one
//! file): linear; it was quadratic once (2,000 took a minute).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use moor::labels;
use moor::manifest::{load_str, Desired};
use moor::observe::{Health, Observed, ObservedContainer, RunState};
use moor::plan::plan;
use moor::spec_hash::spec_hash;

const IMAGE_ID: &str = "sha256:5d3bd1d2c3b1a1e0a8a1c39c1f1b6b7e3c4f9f0b0d9a3c2b1a0f9e8d7c6b5a49";

fn manifests(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "---\napiVersion: moor/v1\nkind: Service\nmetadata: {{ name: svc-{i}, labels: {{ team: t{} }} }}\nspec:\n  image: registry.example:5000/app:{}\n  command: [serve, --port, \"8080\"]\n  env: {{ LOG_LEVEL: info, INDEX: \"{i}\" }}\n  ports: [\"8080\"]\n  volumes: [\"data-{i}:/data\", {{ type: tmpfs, target: /tmp }}]\n  restart: unless-stopped\n  healthcheck: {{ test: [CMD, /app, health], interval: 10s, retries: 3 }}\n  resources: {{ memory: 256Mi, cpus: 0.5 }}\n",
                i % 7,
                i % 3
            )
        })
        .collect()
}

fn desired(n: usize) -> Desired {
    let loaded = load_str(Path::new("/bench/all.yaml"), &manifests(n));
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems.first());
    loaded.desired
}

/// Every service running and built from its spec: the plan must be empty.
fn in_sync(d: &Desired) -> Observed {
    let containers = d
        .services
        .values()
        .map(|s| ObservedContainer {
            id: format!("{:064}", s.name.len()),
            name: s.name.clone(),
            state: RunState::Running,
            health: Health::Healthy,
            image: s.container.image.clone(),
            image_id: IMAGE_ID.into(),
            created: 1,
            exit_code: None,
            labels: BTreeMap::from([
                (labels::INSTANCE.to_string(), "bench".to_string()),
                (labels::SERVICE.to_string(), s.name.clone()),
                (labels::REPLICA.to_string(), "1".to_string()),
                (labels::SPEC_HASH.to_string(), spec_hash(&s.container, IMAGE_ID)),
                (labels::LAST_APPLIED.to_string(), s.canonical.clone()),
            ]),
            // On the default network, as apply leaves a service without networks.
            networks: moor::names::placed_spec(moor::names::DEFAULT_INSTANCE, d, &s.container).networks,
        })
        .collect();
    Observed { containers, ..Observed::default() }
}

fn bench(c: &mut Criterion) {
    let text = manifests(100);
    c.bench_function("load_validate_100", |b| b.iter(|| load_str(Path::new("/bench/all.yaml"), black_box(&text))));

    let broken: String = (0..10_000)
        .map(|i| {
            format!("---\napiVersion: moor/v1\nkind: Service\nmetadata: {{ name: svc-{i} }}\nspec: {{ image: app, dependsOn: [gone-{i}] }}\n")
        })
        .collect();
    assert_eq!(load_str(Path::new("/bench/all.yaml"), &broken).problems.len(), 10_000);
    c.bench_function("load_10000_problems", |b| b.iter(|| load_str(Path::new("/bench/all.yaml"), black_box(&broken))));

    let one = desired(1);
    let spec = &one.services["svc-0"].container;
    c.bench_function("spec_hash", |b| b.iter(|| spec_hash(black_box(spec), IMAGE_ID)));

    let mut group = c.benchmark_group("plan_in_sync");
    for n in [1_000, 10_000] {
        let d = desired(n);
        let o = in_sync(&d);
        assert!(plan(&d, &o).is_empty());
        group.bench_with_input(BenchmarkId::from_parameter(n), &(d, o), |b, (d, o)| {
            b.iter(|| plan(black_box(d), black_box(o)))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
