//! Arch-config TOML (docs/formats.md §2): text → `toml::Table` → `--set` overrides → key and
//! type check → [`RawArchConfig`] → `TryFrom` → [`ArchConfig`].
//!
//! Unknown keys and wrong types are found by walking the table against the fully resolved
//! default config (`ArchConfig::default_with(..).to_raw()` rendered as TOML), so the set of
//! known keys has a single source of truth in `cdg-core` and every error carries the dotted
//! path (`array.foo`). Serde's own `deny_unknown_fields` only reports the leaf name and a byte
//! span, which is why the walk happens first.

use crate::error::{IoError, Result, read_text};
use cdg_core::arch::name_list;
use cdg_core::{ArchConfig, Dataflow, MappingObjective, RawArchConfig, SkipPolicy};
use std::path::Path;
use toml::{Table, Value};

/// Loads and validates an arch config, applying `overrides` (`dotted.key=value`) first.
pub fn load_arch(path: &Path, overrides: &[String]) -> Result<ArchConfig> {
    let text = read_text(path, Some(EXPECTED))?;
    parse_at(path, &text, overrides)
}

/// Parses an arch config from `text`; `origin` names the source in error messages.
pub fn parse_arch(text: &str, origin: &str, overrides: &[String]) -> Result<ArchConfig> {
    parse_at(Path::new(origin), text, overrides)
}

/// The fully resolved config (every key explicit) as TOML, for writing beside outputs.
/// [`parse_arch`] of the result gives back an equal [`ArchConfig`].
pub fn to_toml(arch: &ArchConfig) -> String {
    let body = match toml::to_string(&arch.to_raw()) {
        Ok(s) => s,
        // Every field of `RawArchConfig` is a TOML scalar or table, so rendering cannot fail;
        // should it ever, the output says so rather than panicking.
        Err(e) => format!("# cdg could not render this config: {e}\n"),
    };
    format!(
        "# Resolved arch config `{}` (every key explicit).\n{body}",
        arch.name
    )
}

/// Applies one `dotted.key=value` assignment to `table`. The value is parsed as a TOML value
/// (number, boolean, quoted string, array); anything else is taken as a bare string, so
/// `array.dataflow=ws` and `memory.dram_bytes_per_cycle=unlimited` work unquoted.
pub fn apply_override(table: &mut Table, assignment: &str) -> std::result::Result<(), String> {
    let Some((key, value)) = assignment.split_once('=') else {
        return Err("expected `dotted.key=value`, found no `=`".into());
    };
    let key = key.trim();
    let value = value.trim();
    if key.is_empty() {
        return Err("the key before `=` is empty".into());
    }
    let segments: Vec<&str> = key.split('.').map(str::trim).collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(format!("key `{key}` has an empty segment"));
    }
    if value.is_empty() {
        return Err(format!("no value after `{key}=`"));
    }
    let parsed = match toml::from_str::<Table>(&format!("v = {value}")) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| Value::String(value.to_owned())),
        Err(_) => Value::String(value.to_owned()),
    };
    let (last, parents) = segments.split_last().ok_or("empty key")?;
    let mut cur = table;
    for (i, seg) in parents.iter().enumerate() {
        let entry = cur
            .entry((*seg).to_owned())
            .or_insert_with(|| Value::Table(Table::new()));
        cur = match entry {
            Value::Table(t) => t,
            other => {
                return Err(format!(
                    "`{}` holds {}, not a table, so `{key}` cannot be set",
                    segments[..=i].join("."),
                    describe(other)
                ));
            }
        };
    }
    cur.insert((*last).to_owned(), parsed);
    Ok(())
}

const EXPECTED: &str = "an arch-config TOML file starting with `schema = 1`";

fn parse_at(path: &Path, text: &str, overrides: &[String]) -> Result<ArchConfig> {
    if text.trim().is_empty() {
        return Err(IoError::Empty {
            path: path.to_owned(),
            expected: EXPECTED,
        });
    }
    let table: Table = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
    with_overrides(path, table, overrides)
}

/// `arch` with `overrides` (`dotted.key=value`) applied and validated exactly as over a file
/// (a design that did not come from an arch-config file, e.g. a SCALE-Sim `.cfg`'s); `origin`
/// names the source in error messages. The design's keys are set as values, not re-parsed
/// from text.
pub fn apply_overrides(
    arch: &ArchConfig,
    origin: &str,
    overrides: &[String],
) -> Result<ArchConfig> {
    let path = Path::new(origin);
    let table = match Value::try_from(arch.to_raw()) {
        Ok(Value::Table(t)) => t,
        Ok(other) => {
            return Err(IoError::syntax(
                path,
                "arch config",
                format!("the design is {}, not a table", describe(&other)),
            ));
        }
        Err(e) => return Err(IoError::syntax(path, "arch config", e.to_string())),
    };
    with_overrides(path, table, overrides)
}

/// Validates `table` with `overrides` applied in order. The table alone is checked first, so
/// its own faults name the file and a fault the overrides bring in names the override that
/// caused it (`--set array.row=32`), not the file: the one after the last prefix of overrides
/// that still gives a valid config.
fn with_overrides(path: &Path, table: Table, overrides: &[String]) -> Result<ArchConfig> {
    if overrides.is_empty() {
        return validate(path, table);
    }
    validate(path, table.clone())?;
    // Every prefix of the overrides, applied: prefixes[k] holds the first k.
    let mut prefixes = vec![table];
    for o in overrides {
        let mut next = prefixes.last().cloned().unwrap_or_default();
        apply_override(&mut next, o).map_err(|problem| IoError::Override {
            path: path.to_owned(),
            assignment: o.clone(),
            problem,
        })?;
        prefixes.push(next);
    }
    let all = prefixes.pop().unwrap_or_default();
    let error = match validate(path, all) {
        Ok(arch) => return Ok(arch),
        Err(e) => e,
    };
    // The longest valid prefix (the empty one is valid); the override after it is the first
    // from which on the config stays invalid.
    let mut valid = 0;
    let mut first_error = error;
    for k in (1..prefixes.len()).rev() {
        match validate(path, prefixes[k].clone()) {
            Ok(_) => {
                valid = k;
                break;
            }
            Err(e) => first_error = e,
        }
    }
    Err(blame_override(path, &overrides[valid], first_error))
}

/// Checks every key of `table` and builds the validated config.
fn validate(path: &Path, table: Table) -> Result<ArchConfig> {
    let reference = reference_table();
    check_table(path, &table, &reference, "")?;
    let raw: RawArchConfig = Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| IoError::syntax(path, "arch config", e.message()))?;
    ArchConfig::try_from(raw).map_err(|e| IoError::invalid(path, e))
}

/// An error of a config that was valid before `assignment` was applied, as its fault.
fn blame_override(path: &Path, assignment: &str, e: IoError) -> IoError {
    let message = e.to_string();
    let prefix = format!("{}: ", path.display());
    let problem = message.strip_prefix(&prefix).unwrap_or(&message).to_owned();
    IoError::Override {
        path: path.to_owned(),
        assignment: assignment.to_owned(),
        problem: format!("{problem} (applied over the valid file)"),
    }
}

/// A TOML syntax error as "line L, column C: message".
pub(crate) fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> IoError {
    IoError::syntax(path, "TOML", toml_message(text, e))
}

/// "line L, column C: message" for a TOML error in `text`, without echoing the line (which may
/// be a hundred kilobytes long).
pub(crate) fn toml_message(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {col}: {}", e.message().trim())
        }
        None => e.message().trim().to_owned(),
    }
}

/// Every key of the format with a value of its type.
fn reference_table() -> Table {
    let mut raw = ArchConfig::default_with("reference").to_raw();
    // `to_raw` leaves out the default batch; the key exists all the same.
    raw.workload.batch = Some(1);
    match Value::try_from(raw) {
        Ok(Value::Table(t)) => t,
        _ => Table::new(),
    }
}

/// Keys whose value may be a number or one of a few words.
const NUMBER_OR_WORD: &[(&str, &str)] = &[("memory.dram_bytes_per_cycle", "unlimited")];

/// What a key whose string value is one of a closed set expects, named in type errors (from
/// the enums' `ALL`, so a new dataflow or policy is listed).
fn choices(dotted: &str) -> Option<String> {
    let names = match dotted {
        "array.dataflow" => name_list(Dataflow::ALL.iter().map(|d| d.as_str()), true, " or "),
        "sparsity.support" => SkipPolicy::names(true, " or "),
        "mapping.objective" => name_list(
            MappingObjective::ALL.iter().map(|o| o.as_str()),
            true,
            " or ",
        ),
        _ => return None,
    };
    Some(format!("a string: {names}"))
}

/// Keys cdg no longer reads, with what replaced them (named when a file still has one).
const REMOVED: &[(&str, &str)] = &[(
    "sparsity.gather_cycles_per_fold",
    ": it was removed, since a constant per fold is not what the gather unit costs; the \
     gather cost now follows from `sparsity.gather_rows_per_cycle` (gather indices examined per \
     cycle, default 16; docs/model.md §5): replace the key by `gather_rows_per_cycle = 16`",
)];

fn check_table(path: &Path, table: &Table, reference: &Table, prefix: &str) -> Result<()> {
    for (key, value) in table {
        let dotted = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let Some(expected) = reference.get(key) else {
            if let Some((_, why)) = REMOVED.iter().find(|(k, _)| *k == dotted) {
                return Err(IoError::UnknownKey {
                    path: path.to_owned(),
                    key: dotted,
                    hint: (*why).to_owned(),
                });
            }
            let known: Vec<&str> = reference.keys().map(String::as_str).collect();
            let place = if prefix.is_empty() {
                "top level".to_owned()
            } else {
                format!("[{prefix}]")
            };
            return Err(IoError::UnknownKey {
                path: path.to_owned(),
                key: dotted,
                hint: format!("; known keys at {place}: {}", known.join(", ")),
            });
        };
        check_value(path, &dotted, value, expected, reference_is_table(expected))?;
    }
    Ok(())
}

fn reference_is_table(v: &Value) -> bool {
    matches!(v, Value::Table(_))
}

fn check_value(
    path: &Path,
    dotted: &str,
    value: &Value,
    expected: &Value,
    table: bool,
) -> Result<()> {
    let wrong = |expected: std::borrow::Cow<'static, str>| IoError::WrongType {
        path: path.to_owned(),
        key: dotted.to_owned(),
        expected,
        found: describe(value),
    };
    if table {
        let Value::Table(sub) = value else {
            return Err(wrong("a table".into()));
        };
        let Value::Table(reference) = expected else {
            return Ok(());
        };
        return check_table(path, sub, reference, dotted);
    }
    if let Some((_, word)) = NUMBER_OR_WORD.iter().find(|(k, _)| *k == dotted) {
        return match value {
            Value::Integer(_) | Value::Float(_) => Ok(()),
            Value::String(_) => Ok(()), // The word itself is checked by `TryFrom`.
            _ => Err(wrong(if *word == "unlimited" {
                "a number or \"unlimited\"".into()
            } else {
                "a number or a word".into()
            })),
        };
    }
    match (expected, value) {
        // The only 32-bit integer key; every other integer is a u64.
        (Value::Integer(_), Value::Integer(i))
            if dotted == "schema" && *i > i64::from(u32::MAX) =>
        {
            Err(wrong("a small integer (`schema = 1`)".into()))
        }
        (Value::Integer(_), Value::Integer(i)) if *i >= 0 => Ok(()),
        (Value::Integer(_), _) => Err(wrong("a non-negative integer".into())),
        (Value::Float(_), Value::Integer(_) | Value::Float(_)) => Ok(()),
        (Value::Float(_), _) => Err(wrong("a number".into())),
        (Value::Boolean(_), Value::Boolean(_)) => Ok(()),
        (Value::Boolean(_), _) => Err(wrong("true or false".into())),
        (Value::String(_), Value::String(_)) => Ok(()),
        (Value::String(_), _) => Err(wrong(
            choices(dotted).map_or("a string".into(), std::borrow::Cow::Owned),
        )),
        _ => Ok(()),
    }
}

/// A value's type and, for scalars, the value itself: `integer 3`, `string "x"`.
fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("string {s:?}"),
        Value::Integer(i) => format!("integer {i}"),
        Value::Float(f) => format!("float {f}"),
        Value::Boolean(b) => format!("boolean {b}"),
        Value::Datetime(d) => format!("datetime {d}"),
        Value::Array(_) => "an array".to_owned(),
        Value::Table(_) => "a table".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdg_core::{Dataflow, DramBandwidth, SkipPolicy};

    const OS16: &str = r#"
schema = 1
name = "t"
[array]
rows = 16
cols = 8
dataflow = "ws"
[memory]
dram_bytes_per_cycle = "unlimited"
ifmap_sram_kib = 32
"#;

    fn err(text: &str, overrides: &[&str]) -> String {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        parse_arch(text, "cfg.toml", &o).unwrap_err().to_string()
    }

    #[test]
    fn parses_and_overrides() {
        let a = parse_arch(OS16, "cfg.toml", &[]).unwrap();
        assert_eq!((a.array.rows, a.array.cols), (16, 8));
        assert_eq!(a.array.dataflow, Dataflow::WeightStationary);
        assert_eq!(a.memory.dram_bandwidth, DramBandwidth::Unlimited);
        assert_eq!(a.memory.ifmap_sram_kib, 32.0);
        let o = [
            "array.rows=32".to_owned(),
            "array.dataflow=is".to_owned(),
            "memory.dram_bytes_per_cycle=8".to_owned(),
            "sparsity.support=tile-skip".to_owned(),
            "energy.mac = 0.5".to_owned(),
            "array.overlap_folds=true".to_owned(),
        ];
        let a = parse_arch(OS16, "cfg.toml", &o).unwrap();
        assert_eq!(a.array.rows, 32);
        assert_eq!(a.array.dataflow, Dataflow::InputStationary);
        assert_eq!(a.memory.dram_bandwidth, DramBandwidth::BytesPerCycle(8.0));
        assert_eq!(a.sparsity.support, SkipPolicy::TileSkip);
        assert_eq!(a.energy.mac, 0.5);
        assert!(a.array.overlap_folds);
        // Overrides may create sections the file lacks.
        let a = parse_arch("schema = 1", "x", &["clock.frequency_mhz=500".into()]).unwrap();
        assert_eq!(a.clock.frequency_mhz, 500.0);
    }

    #[test]
    fn of_several_overrides_the_one_that_made_the_config_invalid_is_blamed() {
        // The fault of the first, not the last, override.
        let e = err(OS16, &["array.dataflow=xx", "workload.batch=1"]);
        assert!(e.contains("--set array.dataflow=xx"), "{e}");
        assert!(!e.contains("workload.batch"), "{e}");
        let e = err(OS16, &["workload.batch=1", "array.dataflow=xx"]);
        assert!(e.contains("--set array.dataflow=xx"), "{e}");
        // A fault a later override repairs is not blamed; the one that stays is.
        let e = err(
            OS16,
            &["array.rows=0", "array.rows=8", "sparsity.support=nope"],
        );
        assert!(e.contains("--set sparsity.support=nope"), "{e}");
        assert!(!e.contains("array.rows"), "{e}");
    }

    #[test]
    fn overrides_apply_to_a_design_without_its_text() {
        let a = parse_arch(OS16, "cfg.toml", &[]).unwrap();
        let o = ["array.rows=64".to_owned(), "array.dataflow=os".to_owned()];
        let b = apply_overrides(&a, "run.cfg", &o).unwrap();
        assert_eq!(b, parse_arch(OS16, "cfg.toml", &o).unwrap());
        assert_eq!(apply_overrides(&a, "run.cfg", &[]).unwrap(), a);
        let e = apply_overrides(&a, "run.cfg", &["array.dataflow=xx".to_owned()])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("run.cfg") && e.contains("--set array.dataflow=xx"),
            "{e}"
        );
    }

    #[test]
    fn resolved_roundtrip() {
        let a = parse_arch(OS16, "cfg.toml", &[]).unwrap();
        let text = to_toml(&a);
        assert_eq!(parse_arch(&text, "resolved.toml", &[]).unwrap(), a);
    }

    #[test]
    fn errors_name_file_and_dotted_key() {
        let e = err("schema = 1\n[array]\nfoo = 3\n", &[]);
        assert!(
            e.contains("cfg.toml") && e.contains("unknown key `array.foo`"),
            "{e}"
        );
        assert!(e.contains("rows, cols, dataflow, overlap_folds"), "{e}");
        let e = err("schema = 1\nbogus = 3\n", &[]);
        assert!(e.contains("unknown key `bogus`"), "{e}");
        let e = err("schema = 1\n[array]\nrows = \"16\"\n", &[]);
        assert!(
            e.contains("`array.rows` must be a non-negative integer, found string \"16\""),
            "{e}"
        );
        let e = err("schema = 1\n[array]\nrows = -4\n", &[]);
        assert!(
            e.contains("`array.rows` must be a non-negative integer"),
            "{e}"
        );
        let e = err("schema = 1\n[array]\ndataflow = 3\n", &[]);
        assert!(
            e.contains("`array.dataflow` must be a string: \"os\""),
            "{e}"
        );
        let e = err("schema = 1\narray = 3\n", &[]);
        assert!(e.contains("`array` must be a table"), "{e}");
        let e = err("schema = 1\n[array]\ndataflow = \"xs\"\n", &[]);
        assert!(
            e.contains("cfg.toml: `array.dataflow`: unknown dataflow `xs`"),
            "{e}"
        );
        let e = err("schema = 1\n[array]\nrows = 0\n", &[]);
        assert!(
            e.contains("`array.rows`: must be at least 1, found 0"),
            "{e}"
        );
        let e = err("schema = 1\n[array\n", &[]);
        assert!(e.contains("not valid TOML: line 2"), "{e}");
        let e = err("   \n", &[]);
        assert!(e.contains("cfg.toml: is empty"), "{e}");
        let e = err("schema = 1", &["array.fooo=1"]);
        assert!(e.contains("unknown key `array.fooo`"), "{e}");
        assert!(e.contains("override `--set array.fooo=1`"), "{e}");
        let e = err("schema = 1", &["array.rows"]);
        assert!(
            e.contains("override `--set array.rows` (on cfg.toml): expected `dotted.key=value`"),
            "{e}"
        );
        // A fault of the file itself still names the file, not the overrides.
        let e = err(
            "schema = 1
[array]
rowz = 2
",
            &["array.rows=4"],
        );
        assert!(e.starts_with("cfg.toml: unknown key `array.rowz`"), "{e}");
        let e = err("schema = 1", &["schema.x=1"]);
        assert!(e.contains("`schema` holds integer 1, not a table"), "{e}");
        let e = err("schema = 99999999999\n", &[]);
        assert!(
            e.contains("cfg.toml: `schema` must be a small integer"),
            "{e}"
        );
        let e = err("schema = 1", &["memory.dram_bytes_per_cycle=lots"]);
        assert!(
            e.contains("memory.dram_bytes_per_cycle") && e.contains("lots"),
            "{e}"
        );
    }
}
