//! The gate-consistency loss of Contrastive Dual Gating:
//! `L_gate = γ · mean over gated layers and channels of (mean_hw g_v − mean_hw g_v′)²`,
//! per image pair (rows i and i + B of a 2B batch), with soft gates g; both branches receive
//! the gradient. `Geometric` alignment compares the soft gates element-wise over the two
//! crops' overlap instead of the pooled means.

use crate::data::ViewGeometry;
use crate::error::{Result, TrainError};
use crate::ops::layout;
use crate::scalar::Scalar;
use ndarray::{Array4, ArrayView4, Axis};

/// How the two branches' gates are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ConsistencyAlign {
    /// Spatially pooled per channel (the default; docs/training.md §4).
    Pooled,
    /// Element-wise over the crops' overlap (from crop boxes and flips).
    Geometric,
}

/// The loss value and ∂L/∂g per layer.
#[derive(Debug, Clone)]
pub struct ConsistencyLoss<T> {
    /// γ·D.
    pub loss: f64,
    /// D (before γ): the mean squared gate difference.
    pub raw: f64,
    pub grads: Vec<Array4<T>>,
}

/// Pairs of flat map positions `(p_a, p_b)` (p = h·W_map + w) where cell p_a of view a and
/// cell p_b of view b see the same source point: the centre of each cell of a's
/// `map_hw` map is mapped through a's geometry to the source image, and kept when it lies
/// inside b's crop box, landing in b's cell by the inverse of b's geometry (flip included).
/// `image_hw` is the views' pixel size.
pub fn aligned_positions(
    a: &ViewGeometry,
    b: &ViewGeometry,
    map_hw: (usize, usize),
    image_hw: (usize, usize),
) -> Vec<(usize, usize)> {
    let (mh, mw) = map_hw;
    let (ih, iw) = (image_hw.0 as f32, image_hw.1 as f32);
    let mut out = Vec::new();
    for h in 0..mh {
        for w in 0..mw {
            // Centre of the cell in view pixel-centre coordinates.
            let i = (h as f32 + 0.5) * ih / mh as f32 - 0.5;
            let j = (w as f32 + 0.5) * iw / mw as f32 - 0.5;
            let (y, x) = a.source_point(i, j, image_hw.0, image_hw.1);
            // Edge coordinates relative to b's box, as a fraction of its size.
            let fy = (y + 0.5 - b.y0) / b.h;
            let fx = (x + 0.5 - b.x0) / b.w;
            if !(0.0..1.0).contains(&fy) || !(0.0..1.0).contains(&fx) {
                continue;
            }
            let hb = ((fy * mh as f32) as usize).min(mh - 1);
            let mut wb = ((fx * mw as f32) as usize).min(mw - 1);
            if b.flipped {
                wb = mw - 1 - wb;
            }
            out.push((h * mw + w, hb * mw + wb));
        }
    }
    out
}

/// `γ · (1/L) Σ_layers D_l` and its gradient with respect to each layer's soft gates
/// (2B×C×H×W; row i pairs with row i + B). `Geometric` needs the views' geometries
/// (`geometry.0[i]` for row i, `geometry.1[i]` for row i + B) and pixel size.
pub fn consistency_loss<T: Scalar>(
    gates: &[ArrayView4<'_, T>],
    gamma: f64,
    align: ConsistencyAlign,
    geometry: Option<(&[ViewGeometry], &[ViewGeometry])>,
    image_hw: (usize, usize),
) -> Result<ConsistencyLoss<T>> {
    let layers = gates.len().max(1) as f64;
    let mut total = 0.0;
    let mut grads = Vec::with_capacity(gates.len());
    for (li, g) in gates.iter().enumerate() {
        let (n2, c, h, w) = g.dim();
        if n2 % 2 != 0 || n2 == 0 {
            return Err(TrainError::shape(
                &format!("gate layer {li}"),
                "2B×C×H×W soft gates with an even, non-zero batch",
                g.shape(),
            ));
        }
        let b = n2 / 2;
        // ∂L/∂g in the gates' own memory order (channels-last from `GatedConv`), so that
        // the layer's backward reads it without a transposition.
        let mut dg = if layout::is_nhwc(g) {
            layout::zeros_nhwc(g.dim())
        } else {
            Array4::<T>::zeros(g.raw_dim())
        };
        let mut d_layer = 0.0;
        match align {
            ConsistencyAlign::Pooled => {
                let hw = (h * w) as f64;
                let scale = 1.0 / (b * c) as f64;
                // Per channel, the mean over its map, summed in row-major (h, w) order; the
                // (h, w, c) view visits a channels-last map in memory order.
                let means = |row: usize| -> Vec<f64> {
                    let mut m = vec![0.0f64; c];
                    let v = g.index_axis(Axis(0), row).permuted_axes([1, 2, 0]);
                    match v.as_slice() {
                        // Channels-last: plain rows (the loop vectorises across channels).
                        Some(data) if c > 0 => {
                            for px in data.chunks_exact(c) {
                                for (m, &x) in m.iter_mut().zip(px) {
                                    *m += x.as_f64();
                                }
                            }
                        }
                        _ => {
                            for px in v.lanes(Axis(2)) {
                                for (m, x) in m.iter_mut().zip(px) {
                                    *m += x.as_f64();
                                }
                            }
                        }
                    }
                    m.iter_mut().for_each(|x| *x /= hw);
                    m
                };
                let mut fill = |row: usize, vals: &[T]| {
                    let mut v = dg.index_axis_mut(Axis(0), row).permuted_axes([1, 2, 0]);
                    match v.as_slice_mut() {
                        Some(data) if c > 0 => {
                            for px in data.chunks_exact_mut(c) {
                                px.copy_from_slice(vals);
                            }
                        }
                        _ => {
                            for mut px in v.lanes_mut(Axis(2)) {
                                for (x, &val) in px.iter_mut().zip(vals) {
                                    *x = val;
                                }
                            }
                        }
                    }
                };
                for i in 0..b {
                    let (ma, mb) = (means(i), means(i + b));
                    let mut ga = Vec::with_capacity(c);
                    let mut gb = Vec::with_capacity(c);
                    for (&ma, &mb) in ma.iter().zip(&mb) {
                        let diff = ma - mb;
                        d_layer += scale * diff * diff;
                        let gd = gamma / layers * scale * 2.0 * diff / hw;
                        ga.push(T::of(gd));
                        gb.push(T::of(-gd));
                    }
                    fill(i, &ga);
                    fill(i + b, &gb);
                }
            }
            ConsistencyAlign::Geometric => {
                let (ga, gb) = geometry.ok_or_else(|| {
                    TrainError::config(
                        "consistency_align",
                        "geometric alignment needs the views' crop boxes and flips",
                    )
                })?;
                if ga.len() != b || gb.len() != b {
                    return Err(TrainError::config(
                        "consistency_align",
                        format!(
                            "{} and {} view geometries for {b} pairs",
                            ga.len(),
                            gb.len()
                        ),
                    ));
                }
                for i in 0..b {
                    // Both directions, each averaged over its matches and the channels.
                    let dirs = [
                        (
                            i,
                            i + b,
                            aligned_positions(&ga[i], &gb[i], (h, w), image_hw),
                        ),
                        (
                            i + b,
                            i,
                            aligned_positions(&gb[i], &ga[i], (h, w), image_hw),
                        ),
                    ];
                    for (ra, rb, pairs) in dirs {
                        if pairs.is_empty() {
                            continue;
                        }
                        let scale = 0.5 / (b * c * pairs.len()) as f64;
                        for cc in 0..c {
                            for &(pa, pb) in &pairs {
                                let (ha, wa) = (pa / w, pa % w);
                                let (hb, wb) = (pb / w, pb % w);
                                let diff =
                                    g[[ra, cc, ha, wa]].as_f64() - g[[rb, cc, hb, wb]].as_f64();
                                d_layer += scale * diff * diff;
                                let gd = gamma / layers * scale * 2.0 * diff;
                                dg[[ra, cc, ha, wa]] += T::of(gd);
                                dg[[rb, cc, hb, wb]] -= T::of(gd);
                            }
                        }
                    }
                }
            }
        }
        total += d_layer;
        grads.push(dg);
    }
    let raw = total / layers;
    Ok(ConsistencyLoss {
        loss: gamma * raw,
        raw,
        grads,
    })
}
