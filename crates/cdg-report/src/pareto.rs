//! Pareto fronts of points where smaller is better on every axis: the latency/energy front
//! every report draws, and the front over the objectives a user picks (`--pareto
//! latency,energy,area`) with designs that tie on every objective collapsed into one entry.

use cdg_core::columns as col;
use std::fmt;
use std::str::FromStr;

/// Indices of the points not dominated by any other point, ordered by ascending `x` (then `y`,
/// then index). A point is dominated when another is no worse on both axes and strictly better
/// on one. Identical points count once: of a group of equal points on the front only the first
/// (lowest index) is kept, so two designs that cost the same do not both claim the front
/// ([`pareto_groups`] says which points each entry stands for).
/// Points with a non-finite coordinate are ignored.
pub fn pareto_front(points: &[(f64, f64)]) -> Vec<usize> {
    let pts: Vec<[f64; 2]> = points.iter().map(|&(x, y)| [x, y]).collect();
    pareto_groups(&pts).into_iter().map(|g| g.index).collect()
}

/// One entry of a Pareto front: a point and the points identical to it on every objective.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontGroup {
    /// The first (lowest-index) point of the group.
    pub index: usize,
    /// The other points with exactly the same coordinates, ascending.
    pub same: Vec<usize>,
}

/// Compares two points coordinate by coordinate (finite values: a total order, with −0 = +0).
fn lexicographic(a: &[f64], b: &[f64]) -> std::cmp::Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.partial_cmp(y).unwrap_or(std::cmp::Ordering::Equal))
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

/// The Pareto front of points with any number of objectives (each point's coordinates, smaller
/// is better on every one): the points no other point dominates (no worse on every objective
/// and strictly better on one), ordered lexicographically by their coordinates (the first
/// objective ascending, ties by the next, …). Points identical on every objective form ONE
/// entry, named by its lowest index, with the others in [`FrontGroup::same`]. Points with a
/// non-finite coordinate are ignored. `O(n log n + n·f·d)` for `f` front entries of `d`
/// objectives.
pub fn pareto_groups<P: AsRef<[f64]>>(points: &[P]) -> Vec<FrontGroup> {
    let mut order: Vec<usize> = (0..points.len())
        .filter(|&i| points[i].as_ref().iter().all(|v| v.is_finite()))
        .collect();
    // A point can only be dominated by one that sorts before it, and identical points sort
    // together by index, so one pass against the front found so far decides each point.
    order.sort_by(|&a, &b| lexicographic(points[a].as_ref(), points[b].as_ref()).then(a.cmp(&b)));
    let mut front: Vec<FrontGroup> = Vec::new();
    'points: for i in order {
        let p = points[i].as_ref();
        for g in front.iter_mut() {
            let q = points[g.index].as_ref();
            let no_worse = q.iter().zip(p).all(|(a, b)| a <= b);
            if no_worse {
                if q.iter().zip(p).all(|(a, b)| a == b) {
                    g.same.push(i);
                }
                continue 'points;
            }
        }
        front.push(FrontGroup {
            index: i,
            same: Vec::new(),
        });
    }
    front
}

/// One objective a Pareto front can be taken over; smaller is better on each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Objective {
    /// Mean latency per sample, `latency_us`.
    Latency,
    /// Mean energy per sample, `energy_pj`.
    Energy,
    /// Silicon area of the design, `area_mm2`.
    Area,
}

impl Objective {
    /// Every objective, in the order fronts are sorted by.
    pub const ALL: [Objective; 3] = [Objective::Latency, Objective::Energy, Objective::Area];

    /// The name used on the command line (`latency`, `energy`, `area`).
    pub fn name(self) -> &'static str {
        match self {
            Objective::Latency => "latency",
            Objective::Energy => "energy",
            Objective::Area => "area",
        }
    }

    /// The `sweep.csv` / `network.csv` column holding it.
    pub fn column(self) -> &'static str {
        match self {
            Objective::Latency => col::LATENCY_US,
            Objective::Energy => col::ENERGY_PJ,
            Objective::Area => col::AREA_MM2,
        }
    }
}

/// The objectives of the Pareto fronts a command prints, draws and reports.
///
/// The default is the latency/energy front as cdg has always drawn it (a group of designs
/// identical in both is named by its first design). A front chosen with `--pareto` (parsed
/// with [`FromStr`]: `latency,energy` or `latency,energy,area`, any order) lists with each
/// entry every design identical to it on all chosen objectives, and with `area` also keeps
/// designs that only a smaller area puts on the front, marked as such on the energy–latency
/// plot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pareto {
    objectives: Vec<Objective>,
    chosen: bool,
}

impl Default for Pareto {
    fn default() -> Self {
        Self {
            objectives: vec![Objective::Latency, Objective::Energy],
            chosen: false,
        }
    }
}

impl Pareto {
    /// A front over `objectives` (latency and energy must be among them: the front is drawn
    /// on the energy–latency plot), as chosen with `--pareto`.
    pub fn over(objectives: &[Objective]) -> Result<Self, String> {
        let mut sorted: Vec<Objective> = Vec::new();
        for &o in objectives {
            if sorted.contains(&o) {
                return Err(format!("objective `{}` is given twice", o.name()));
            }
            sorted.push(o);
        }
        for needed in [Objective::Latency, Objective::Energy] {
            if !sorted.contains(&needed) {
                return Err(format!(
                    "the objectives must include `{}` (a front is drawn on the energy–latency \
                     plot); give `latency,energy` or `latency,energy,area`",
                    needed.name()
                ));
            }
        }
        sorted.sort();
        Ok(Self {
            objectives: sorted,
            chosen: true,
        })
    }

    /// The objectives, in sorting order (latency, energy, area).
    pub fn objectives(&self) -> &[Objective] {
        &self.objectives
    }

    /// Whether the objectives were chosen (`--pareto`): entries then list the designs
    /// identical to them, and the report shows the front as a table of every objective.
    pub fn is_chosen(&self) -> bool {
        self.chosen
    }

    /// Whether the front is over more than latency and energy.
    pub fn beyond_energy_latency(&self) -> bool {
        self.objectives.len() > 2
    }

    /// The objectives in words: `latency vs energy`, `latency, energy and area`.
    pub fn describe(&self) -> String {
        let names: Vec<&str> = self.objectives.iter().map(|o| o.name()).collect();
        match names.as_slice() {
            [a, b] => format!("{a} vs {b}"),
            [init @ .., last] => format!("{} and {last}", init.join(", ")),
            [] => String::new(),
        }
    }
}

impl fmt::Display for Pareto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.objectives.iter().map(|o| o.name()).collect();
        f.write_str(&names.join(","))
    }
}

impl FromStr for Pareto {
    type Err = String;

    /// `latency,energy` or `latency,energy,area` (any order; spaces allowed).
    fn from_str(s: &str) -> Result<Self, String> {
        let mut objectives = Vec::new();
        for part in s.split(',').map(str::trim) {
            let o = Objective::ALL
                .into_iter()
                .find(|o| o.name() == part)
                .ok_or_else(|| {
                    format!(
                        "unknown objective `{part}`; expected a comma-separated list of \
                         latency, energy, area (e.g. `latency,energy,area`)"
                    )
                })?;
            objectives.push(o);
        }
        Self::over(&objectives)
    }
}
