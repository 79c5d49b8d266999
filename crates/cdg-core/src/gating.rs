//! Gate rules: which layers of a network are gated, and how, stated by the user.
//!
//! A rule is `GLOB=BLOCK[,BASE]` or `GLOB=none`:
//! - `GLOB` matches whole layer names; `*` is any run of characters (dots included), `?` one
//!   character. `layer*.conv2` matches `layer1.0.conv2` and `layer4.2.conv2`.
//! - `BLOCK` is the gate block `CxHxW` (output channels × rows × columns), e.g. `16x1x1`.
//! - `BASE` is the number of base partitions P: the base path is the first ⌈C_in_g/P⌉ input
//!   channels of each group (C_in_g = C_in/groups, all input channels for a plain conv).
//!   Default 4. `BASE = 0` means no base path: every input channel is conditional, the only
//!   way to gate a depthwise layer (one input channel per group).
//! - `none` ungates the matched layers.
//!
//! Rules apply in order, each to every layer it matches, so a later rule overrides an earlier
//! one: `features.*=16x1x1` then `features.0=none` gates every `features` conv but the first.
//! A rule that matches no layer is an error (a typo must not silently gate nothing), and so is
//! a rule that leaves a matched layer without conditional channels (its gate could skip
//! nothing).

use crate::error::{CoreError, Result};
use crate::network::{GateBlock, GateSpec, Layer, Network};

/// Default base partitions of a rule that names none.
pub const DEFAULT_BASE_PARTITIONS: u64 = 4;

/// How the base (always computed) path of a gated layer is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BasePath {
    /// The first ⌈C_in_g / P⌉ input channels of each group; P ≥ 1.
    Partitions(u64),
    /// No base path: every input channel is conditional.
    None,
}

impl BasePath {
    /// Base channels of `layer` (per group).
    pub fn channels(self, layer: &crate::layer::LayerShape) -> u64 {
        match self {
            BasePath::Partitions(p) => {
                GateSpec::base_channels_for(layer.in_channels_per_group(), p)
            }
            BasePath::None => 0,
        }
    }
}

/// What a rule does to the layers it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GateAction {
    Gate { block: GateBlock, base: BasePath },
    Ungate,
}

/// One `GLOB=ACTION` rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GateRule {
    pattern: String,
    action: GateAction,
}

impl GateRule {
    pub fn new(pattern: impl Into<String>, action: GateAction) -> Self {
        Self {
            pattern: pattern.into(),
            action,
        }
    }

    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    pub fn action(&self) -> GateAction {
        self.action
    }

    /// Whether the rule's glob matches the whole of `name`.
    pub fn matches(&self, name: &str) -> bool {
        glob_match(self.pattern.as_bytes(), name.as_bytes())
    }
}

impl std::fmt::Display for GateRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.action {
            GateAction::Ungate => write!(f, "{}=none", self.pattern),
            GateAction::Gate { block, base } => {
                write!(f, "{}={}x{}x{}", self.pattern, block.c, block.h, block.w)?;
                match base {
                    BasePath::Partitions(p) => write!(f, ",{p}"),
                    BasePath::None => write!(f, ",0"),
                }
            }
        }
    }
}

impl std::str::FromStr for GateRule {
    type Err = CoreError;

    /// Parses `GLOB=CxHxW[,BASE]` or `GLOB=none`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: String| {
            CoreError::config(
                "gate rule",
                format!(
                    "`{s}` {why}; expected `GLOB=BLOCK[,BASE]` such as `layer*.conv2=16x1x1,4`, \
                     or `GLOB=none`"
                ),
            )
        };
        let Some((pattern, action)) = s.split_once('=') else {
            return Err(bad("has no `=`".into()));
        };
        let pattern = pattern.trim();
        if pattern.is_empty() {
            return Err(bad("has an empty layer pattern".into()));
        }
        let action = action.trim();
        if action == "none" {
            return Ok(Self::new(pattern, GateAction::Ungate));
        }
        let (block, base) = match action.split_once(',') {
            Some((b, p)) => (b.trim(), Some(p.trim())),
            None => (action, None),
        };
        let dims: Vec<&str> = block.split('x').collect();
        if dims.len() != 3 {
            return Err(bad(format!(
                "has block `{block}`; a block is three sizes `CxHxW`"
            )));
        }
        let mut v = [0u64; 3];
        for (slot, d) in v.iter_mut().zip(&dims) {
            *slot = d.trim().parse().ok().filter(|&n| n >= 1).ok_or_else(|| {
                bad(format!(
                    "has block `{block}`; each size must be a positive integer"
                ))
            })?;
        }
        let base = match base {
            None => BasePath::Partitions(DEFAULT_BASE_PARTITIONS),
            Some(p) => match p.parse::<u64>() {
                Ok(0) => BasePath::None,
                Ok(p) => BasePath::Partitions(p),
                Err(_) => {
                    return Err(bad(format!(
                        "has base partitions `{p}`; expected a non-negative integer (0 = no \
                         base path)"
                    )));
                }
            },
        };
        Ok(Self::new(
            pattern,
            GateAction::Gate {
                block: GateBlock::new(v[0], v[1], v[2]),
                base,
            },
        ))
    }
}

/// Applies `rules` in order to the layers of `network` (whose own gates are the starting
/// point) and returns the re-gated network. Errors name the rule that matches nothing or the
/// layer a rule cannot gate.
pub fn apply_gate_rules(network: &Network, rules: &[GateRule]) -> Result<Network> {
    let mut layers: Vec<Layer> = network.layers().to_vec();
    // The rule that last set each layer's gate: checked once all rules have applied, so a
    // later rule may ungate a layer an earlier one could not gate.
    let mut set_by: Vec<Option<&GateRule>> = vec![None; layers.len()];
    for rule in rules {
        let mut matched = 0usize;
        for (l, by) in layers.iter_mut().zip(&mut set_by) {
            if !rule.matches(l.name()) {
                continue;
            }
            matched += 1;
            *by = Some(rule);
            l.gate = match rule.action {
                GateAction::Ungate => None,
                GateAction::Gate { block, base } => Some(GateSpec {
                    base_channels: base.channels(&l.shape),
                    block,
                }),
            };
        }
        if matched == 0 {
            let names: Vec<&str> = network.layers().iter().map(Layer::name).take(6).collect();
            return Err(CoreError::config(
                "gate rule",
                format!(
                    "`{rule}` matches no layer (layer names look like {}{})",
                    names.join(", "),
                    if network.len() > names.len() {
                        ", …"
                    } else {
                        ""
                    }
                ),
            ));
        }
    }
    for (l, by) in layers.iter().zip(&set_by) {
        let (Some(spec), Some(rule)) = (&l.gate, by) else {
            continue;
        };
        if spec.cond_channels(&l.shape) == 0 {
            let group = if l.shape.groups() > 1 {
                format!(
                    "{} input channel(s) per group (groups {})",
                    l.shape.in_channels_per_group(),
                    l.shape.groups()
                )
            } else {
                format!("{} input channel(s)", l.shape.in_channels())
            };
            return Err(CoreError::gate(
                l.name(),
                format!(
                    "rule `{rule}` leaves no conditional channels: the layer has {group} and \
                     the base path takes {} of them; use more base partitions, or BASE 0 for \
                     no base path",
                    spec.base_channels
                ),
            ));
        }
    }
    Network::new(layers)
}

/// Whole-string glob match: `*` any run (also empty), `?` one byte, everything else literal.
fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    // Iterative matcher with one backtrack point (the last `*`): linear in practice, and
    // never exponential on patterns with many stars.
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zoo::{Zoo, ZooOptions};

    #[test]
    fn globs() {
        for (p, n, want) in [
            ("layer*.conv2", "layer1.0.conv2", true),
            ("layer*.conv2", "layer1.0.conv1", false),
            ("layer*.conv2", "xlayer1.0.conv2", false),
            ("*", "", true),
            ("*", "anything.at.all", true),
            ("features.?", "features.3", true),
            ("features.?", "features.10", false),
            ("features.*.conv.*.0", "features.3.conv.1.0", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
            ("", "", true),
            ("", "a", false),
            ("conv1", "conv1", true),
            ("conv1", "conv10", false),
        ] {
            assert_eq!(glob_match(p.as_bytes(), n.as_bytes()), want, "{p} vs {n}");
        }
    }

    /// Naive recursive glob, the reference for the iterative matcher.
    fn naive(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, _) => n.is_empty(),
            (Some(b'*'), _) => naive(&p[1..], n) || (!n.is_empty() && naive(p, &n[1..])),
            (Some(b'?'), Some(_)) => naive(&p[1..], &n[1..]),
            (Some(c), Some(d)) if c == d => naive(&p[1..], &n[1..]),
            _ => false,
        }
    }

    proptest::proptest! {
        #[test]
        fn glob_matches_naive(p in "[ab.*?]{0,8}", n in "[ab.]{0,10}") {
            proptest::prop_assert_eq!(glob_match(p.as_bytes(), n.as_bytes()), naive(p.as_bytes(), n.as_bytes()));
        }
    }

    #[test]
    fn rules_parse_and_print() {
        let r: GateRule = "layer*.conv2=16x1x1".parse().unwrap();
        assert_eq!(r.to_string(), "layer*.conv2=16x1x1,4");
        let r: GateRule = " features.*.conv.1.0 = 8x2x2 , 0 ".parse().unwrap();
        assert_eq!(
            r.action(),
            GateAction::Gate {
                block: GateBlock::new(8, 2, 2),
                base: BasePath::None
            }
        );
        let r: GateRule = "fc=none".parse().unwrap();
        assert_eq!(r.action(), GateAction::Ungate);
        for (bad, why) in [
            ("layer1", "has no `=`"),
            ("=16x1x1", "empty layer pattern"),
            ("a=16x1", "three sizes"),
            ("a=16x0x1", "positive integer"),
            ("a=16x1x1,-1", "base partitions `-1`"),
            ("a=off", "three sizes"),
        ] {
            let e = bad.parse::<GateRule>().unwrap_err().to_string();
            assert!(e.contains(why) && e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn later_rules_override_and_empty_rules_fail() {
        let net = Zoo::Vgg16.build(&ZooOptions::default()).unwrap();
        let rules =
            Zoo::Vgg16.default_gate_rules(GateBlock::new(16, 1, 1), BasePath::Partitions(4));
        let gated = apply_gate_rules(&net, &rules).unwrap();
        let names: Vec<&str> = gated.gated().map(|(_, l, _)| l.name()).collect();
        assert_eq!(names.len(), 12);
        assert!(!names.contains(&"features.0") && names.contains(&"features.28"));
        let (_, l, g) = gated.gated().next().unwrap();
        assert_eq!((l.name(), g.base_channels), ("features.2", 16));
        let e = apply_gate_rules(&net, &["layer*=16x1x1".parse().unwrap()])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`layer*=16x1x1,4` matches no layer") && e.contains("features.0"),
            "{e}"
        );
    }

    #[test]
    fn grouped_layers_gate_within_groups() {
        let net = Zoo::MobileNetV2.build(&ZooOptions::default()).unwrap();
        // Depthwise layers have one input channel per group: base partitions leave nothing.
        let e = apply_gate_rules(&net, &["features.*.conv.1.0=16x1x1".parse().unwrap()])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("features.2.conv.1.0")
                && e.contains("1 input channel(s) per group (groups 96)"),
            "{e}"
        );
        let rules: Vec<GateRule> = [
            "features.*.conv.1.0=16x1x1,0",
            "features.1.conv.0.0=16x1x1,0",
            "features.*.conv.2=16x1x1",
        ]
        .iter()
        .map(|r| r.parse().unwrap())
        .collect();
        let gated = apply_gate_rules(&net, &rules).unwrap();
        assert_eq!(gated.gated().count(), 17 + 16);
        let dw = &gated.layers()[gated.position("features.2.conv.1.0").unwrap()];
        assert_eq!(dw.gate.unwrap().base_channels, 0);
        let pw = &gated.layers()[gated.position("features.2.conv.2").unwrap()];
        assert_eq!(pw.gate.unwrap().base_channels, 24);
    }

    #[test]
    fn resnet_default_rule_is_channel_gating() {
        for z in [
            Zoo::Resnet18,
            Zoo::Resnet34,
            Zoo::Resnet50,
            Zoo::Resnet18Cifar,
            Zoo::Resnet50Cifar,
        ] {
            let net = z.build(&ZooOptions::default()).unwrap();
            let rules = z.default_gate_rules(GateBlock::new(16, 1, 1), BasePath::Partitions(4));
            let gated = apply_gate_rules(&net, &rules).unwrap();
            for l in gated.layers() {
                let [kh, kw] = l.shape.kernel();
                let in_block = l.name().starts_with("layer") && !l.name().ends_with("downsample");
                assert_eq!(
                    l.gate.is_some(),
                    in_block && kh * kw == 9,
                    "{z}: {}",
                    l.name()
                );
            }
        }
    }
}
