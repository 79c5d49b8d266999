//! The latency/energy Pareto front against a brute-force definition.

use cdg_report::pareto_front;

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
