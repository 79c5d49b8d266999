//! Pareto fronts (two objectives and any number, identical points collapsed) against
//! brute-force definitions, and the objectives a user can choose.

use cdg_report::{FrontGroup, Objective, Pareto, pareto_front, pareto_groups};
use proptest::prelude::*;

fn brute(points: &[(f64, f64)]) -> Vec<usize> {
    let mut out: Vec<usize> = (0..points.len())
        .filter(|&i| {
            let (x, y) = points[i];
            let dominated = points
                .iter()
                .any(|&(a, b)| a <= x && b <= y && (a < x || b < y));
            // Identical points count once: the first of them.
            let repeated = points[..i].iter().any(|&(a, b)| a == x && b == y);
            !dominated && !repeated
        })
        .collect();
    out.sort_by(|&a, &b| {
        points[a]
            .0
            .total_cmp(&points[b].0)
            .then(points[a].1.total_cmp(&points[b].1))
            .then(a.cmp(&b))
    });
    out
}

#[test]
fn small_cases() {
    assert!(pareto_front(&[]).is_empty());
    assert_eq!(pareto_front(&[(1.0, 1.0)]), [0]);
    // (2, 2) is dominated by (1, 1); (0.5, 3) and (3, 0.5) trade off.
    let p = [(2.0, 2.0), (1.0, 1.0), (0.5, 3.0), (3.0, 0.5)];
    assert_eq!(pareto_front(&p), [2, 1, 3]);
    // Regression (issue #15): identical points count once (the first); a same-x worse point
    // goes.
    let p = [(1.0, 1.0), (1.0, 1.0), (1.0, 2.0)];
    assert_eq!(pareto_front(&p), [0]);
    let p = [(2.0, 0.5), (1.0, 1.0), (2.0, 0.5)];
    assert_eq!(pareto_front(&p), [1, 0]);
    // NaN is ignored rather than poisoning the comparison.
    let p = [(f64::NAN, 0.0), (1.0, 1.0)];
    assert_eq!(pareto_front(&p), [1]);
}

#[test]
fn equals_brute_force_on_pseudo_random_clouds() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        // Few distinct values, so ties on either axis are common.
        (state % 12) as f64
    };
    for n in 0..60 {
        let points: Vec<(f64, f64)> = (0..n).map(|_| (next(), next())).collect();
        assert_eq!(pareto_front(&points), brute(&points), "{points:?}");
    }
}

/// The front over any number of objectives by the definition, O(n²): a point is on it when no
/// point is no worse everywhere and better somewhere; identical points form one entry named by
/// the lowest index; entries sorted by coordinates, then index.
fn naive_groups(points: &[Vec<f64>]) -> Vec<FrontGroup> {
    let finite = |p: &Vec<f64>| p.iter().all(|v| v.is_finite());
    let dominates = |q: &Vec<f64>, p: &Vec<f64>| {
        q.iter().zip(p).all(|(a, b)| a <= b) && q.iter().zip(p).any(|(a, b)| a < b)
    };
    let same = |q: &Vec<f64>, p: &Vec<f64>| q.iter().zip(p).all(|(a, b)| a == b);
    let mut out: Vec<FrontGroup> = Vec::new();
    for (i, p) in points.iter().enumerate() {
        if !finite(p) || points.iter().any(|q| finite(q) && dominates(q, p)) {
            continue;
        }
        match out.iter_mut().find(|g| same(&points[g.index], p)) {
            Some(g) => g.same.push(i),
            None => out.push(FrontGroup {
                index: i,
                same: Vec::new(),
            }),
        }
    }
    out.sort_by(|a, b| {
        let (p, q) = (&points[a.index], &points[b.index]);
        p.iter()
            .zip(q)
            .map(|(x, y)| x.partial_cmp(y).unwrap())
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.index.cmp(&b.index))
    });
    out
}

#[test]
fn groups_collapse_identical_points_and_keep_what_area_adds() {
    // (latency, energy, area): 0 and 2 are identical; 1 is slower and costlier than 0 but
    // smaller, so only the third objective keeps it; 3 is dominated by 0 outright.
    let p = [
        [1.0, 1.0, 5.0],
        [2.0, 2.0, 1.0],
        [1.0, 1.0, 5.0],
        [1.0, 2.0, 5.0],
    ];
    assert_eq!(
        pareto_groups(&p),
        [
            FrontGroup {
                index: 0,
                same: vec![2]
            },
            FrontGroup {
                index: 1,
                same: vec![]
            }
        ]
    );
    let two: Vec<[f64; 2]> = p.iter().map(|q| [q[0], q[1]]).collect();
    assert_eq!(
        pareto_groups(&two),
        [FrontGroup {
            index: 0,
            same: vec![2]
        }]
    );
    // −0 and +0 are the same value; a NaN point is ignored.
    let z = [[0.0, -0.0], [-0.0, 0.0], [f64::NAN, -1.0]];
    assert_eq!(
        pareto_groups(&z),
        [FrontGroup {
            index: 0,
            same: vec![1]
        }]
    );
    assert!(pareto_groups::<[f64; 3]>(&[]).is_empty());
}

#[test]
fn objectives_parse_in_any_order_and_refuse_what_cannot_be_drawn() {
    let p: Pareto = "area, energy,latency".parse().unwrap();
    assert_eq!(
        p.objectives(),
        [Objective::Latency, Objective::Energy, Objective::Area]
    );
    assert!(p.is_chosen() && p.beyond_energy_latency());
    assert_eq!(p.to_string(), "latency,energy,area");
    assert_eq!(p.describe(), "latency, energy and area");
    let d = Pareto::default();
    assert!(!d.is_chosen() && !d.beyond_energy_latency());
    assert_eq!(d.describe(), "latency vs energy");
    let two: Pareto = "latency,energy".parse().unwrap();
    assert_eq!(two.objectives(), d.objectives());
    assert!(two.is_chosen());
    let e = "latency,power".parse::<Pareto>().unwrap_err();
    assert!(e.contains("unknown objective `power`"), "{e}");
    let e = "energy,area".parse::<Pareto>().unwrap_err();
    assert!(e.contains("must include `latency`"), "{e}");
    let e = "latency,energy,latency".parse::<Pareto>().unwrap_err();
    assert!(e.contains("`latency` is given twice"), "{e}");
}

/// A coordinate from few distinct values (so ties and duplicates are common), now and then a
/// non-finite one.
fn coordinate() -> impl Strategy<Value = f64> {
    prop_oneof![
        20 => (0u8..5).prop_map(f64::from),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(-0.0),
    ]
}

proptest! {
    #[test]
    fn groups_equal_the_naive_definition(
        dims in 1usize..5,
        raw in proptest::collection::vec(proptest::collection::vec(coordinate(), 4), 0..40),
    ) {
        let points: Vec<Vec<f64>> = raw.into_iter().map(|p| p[..dims].to_vec()).collect();
        prop_assert_eq!(pareto_groups(&points), naive_groups(&points));
    }

    #[test]
    fn two_objective_front_is_the_first_of_each_group(
        raw in proptest::collection::vec((coordinate(), coordinate()), 0..40),
    ) {
        let as_vec: Vec<Vec<f64>> = raw.iter().map(|&(x, y)| vec![x, y]).collect();
        let firsts: Vec<usize> = naive_groups(&as_vec).into_iter().map(|g| g.index).collect();
        prop_assert_eq!(pareto_front(&raw), firsts);
    }

    /// Every point left out is dominated by or identical to a front entry, and no entry is
    /// dominated by any point: the front is complete and correct, not only equal to a copy of
    /// the definition.
    #[test]
    fn every_point_is_covered_by_the_front(
        raw in proptest::collection::vec(proptest::collection::vec(0u8..4, 3), 1..40),
    ) {
        let points: Vec<Vec<f64>> =
            raw.iter().map(|p| p.iter().map(|&v| f64::from(v)).collect()).collect();
        let front = pareto_groups(&points);
        let listed: Vec<usize> = front
            .iter()
            .flat_map(|g| std::iter::once(g.index).chain(g.same.iter().copied()))
            .collect();
        for (i, p) in points.iter().enumerate() {
            let covered = front.iter().any(|g| {
                points[g.index].iter().zip(p).all(|(a, b)| a <= b)
            });
            prop_assert!(covered, "point {} not covered", i);
            let le = |q: &Vec<f64>| q.iter().zip(p).all(|(a, b)| a <= b);
            let lt = |q: &Vec<f64>| q.iter().zip(p).any(|(a, b)| a < b);
            let dominated = points.iter().any(|q| le(q) && lt(q));
            prop_assert_eq!(listed.contains(&i), !dominated, "point {}", i);
        }
    }
}

/// `pareto_rows` (the default front as row lists) is the brute-force front of each workload's
/// rows, with identical designs counted once, in the table's row numbers.
#[test]
fn pareto_rows_are_each_workloads_brute_force_front() {
    use cdg_report::{Table, pareto_rows};
    let csv = "workload,latency_us,energy_pj\n\
               a,2,2\nb,5,5\na,1,3\na,2,2\nb,4,6\na,3,1\na,3,3\nb,6,4\n";
    let table = Table::parse(csv.as_bytes(), std::path::Path::new("sweep.csv")).unwrap();
    let rows = pareto_rows(&table).unwrap();
    let names: Vec<&str> = rows.iter().map(|(w, _, _)| w.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    for (_, members, front) in &rows {
        let pts: Vec<(f64, f64)> = members
            .iter()
            .map(|&r| {
                let cells = &table.rows[r];
                (cells[1].parse().unwrap(), cells[2].parse().unwrap())
            })
            .collect();
        let want: Vec<usize> = brute(&pts).into_iter().map(|i| members[i]).collect();
        assert_eq!(front, &want);
    }
    // Workload a: (1,3), (2,2) [row 0; row 3 is identical], (3,1); (3,3) is dominated.
    assert_eq!(rows[0].2, [2, 0, 5]);
}
