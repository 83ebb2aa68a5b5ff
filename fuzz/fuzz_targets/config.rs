//! Any JSON document given to the config parser: a `NodeConfig` or a list of problems,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        match arrayd::array::config::parse(&value) {
            Ok(node) => {
                let _ = format!("{node:?}");
            }
            Err(problems) => {
                assert!(
                    !problems.is_empty(),
                    "parse failed without naming a problem"
                );
            }
        }
    }
});
