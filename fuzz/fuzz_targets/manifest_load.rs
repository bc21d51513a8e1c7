//! Any bytes as a manifest file: the loader never panics, and a load without problems yields a
//! complete `Desired` whose every service has a canonical spec.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let loaded = moor::manifest::load_str(std::path::Path::new("/fuzz/m.yaml"), text);
    assert_eq!(loaded.desired.complete, loaded.problems.is_empty());
    for service in loaded.desired.services.values() {
        let _ = service.container.canonical_json();
        for p in &loaded.problems {
            let _ = p.to_string();
        }
    }
});
