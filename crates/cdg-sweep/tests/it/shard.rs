//! `shard.json` and the content fingerprint.

use cdg_sweep::{SHARD_FORMAT, ShardInfo, SweepError, fnv64};
use std::path::Path;

fn info() -> ShardInfo {
    ShardInfo {
        format: SHARD_FORMAT.to_owned(),
        version: 1,
        shard: 2,
        shards: 3,
        points: 7,
        grid_keys: vec!["array.rows".into()],
        workloads: vec!["net".into()],
        spec_fnv64: format!("{:016x}", fnv64(&[b"spec"])),
        layers: false,
        plots: true,
    }
}

#[test]
fn fnv_separates_parts() {
    assert_ne!(fnv64(&[b"ab", b"c"]), fnv64(&[b"a", b"bc"]));
    assert_eq!(fnv64(&[b"x"]), fnv64(&[b"x"]));
    // FNV-1a of the empty input with one separator, from the definition.
    let h = (0xcbf2_9ce4_8422_2325u64 ^ 0xff).wrapping_mul(0x0100_0000_01b3);
    assert_eq!(fnv64(&[b""]), h);
}

#[test]
fn shard_json_round_trips_and_ends_with_a_newline() {
    let text = info().to_json();
    assert!(text.ends_with("}\n"));
    let back = ShardInfo::parse(text.as_bytes(), Path::new("d/shard.json")).unwrap();
    assert_eq!(back, info());
    assert_eq!(back.shard().unwrap().to_string(), "2/3");
}

#[test]
fn foreign_or_broken_shard_json_is_refused_naming_the_file() {
    let p = Path::new("d/shard.json");
    let e = ShardInfo::parse(b"{", p).unwrap_err();
    assert!(matches!(e, SweepError::ShardJson { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "d/shard.json: not a cdg sweep shard description"
    );
    let mut other = info();
    other.format = "other".into();
    let e = ShardInfo::parse(other.to_json().as_bytes(), p).unwrap_err();
    assert!(
        e.to_string().contains("expected `cdg-sweep` version 1"),
        "{e}"
    );
    let mut bad = info();
    bad.shard = 4;
    let e = ShardInfo::parse(bad.to_json().as_bytes(), p).unwrap_err();
    assert!(
        e.to_string().starts_with("d/shard.json: bad shard numbers"),
        "{e}"
    );
    let extra = info().to_json().replacen('{', "{\"extra\": 1,", 1);
    assert!(ShardInfo::parse(extra.as_bytes(), p).is_err());
}
