//! The Pareto front of points where smaller is better on both axes (latency, energy).

/// Indices of the points not dominated by any other point, ordered by ascending `x` (then `y`,
/// then index). A point is dominated when another is no worse on both axes and strictly better
/// on one. Identical points count once: of a group of equal points on the front only the first
/// (lowest index) is kept, so two designs that cost the same do not both claim the front.
/// Points with a non-finite coordinate are ignored.
pub fn pareto_front(points: &[(f64, f64)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..points.len())
        .filter(|&i| points[i].0.is_finite() && points[i].1.is_finite())
        .collect();
    order.sort_by(|&a, &b| {
        let (pa, pb) = (points[a], points[b]);
        pa.0.total_cmp(&pb.0)
            .then(pa.1.total_cmp(&pb.1))
            .then(a.cmp(&b))
    });
    let mut front = Vec::new();
    let mut best_y = f64::INFINITY;
    let mut i = 0;
    while i < order.len() {
        // A group of equal x: only its smallest y can be on the front, and only if every
        // point with a strictly smaller x has a larger y.
        let x = points[order[i]].0;
        let group_min = points[order[i]].1;
        let mut j = i;
        while j < order.len() && points[order[j]].0 == x {
            // Sorted by index within equal points: the first of them is the one kept.
            if points[order[j]].1 == group_min && group_min < best_y && j == i {
                front.push(order[j]);
            }
            j += 1;
        }
        best_y = best_y.min(group_min);
        i = j;
    }
    front
}
