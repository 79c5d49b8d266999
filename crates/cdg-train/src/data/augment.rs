//! Image augmentation for SSL and supervised training, on NCHW `f32` images in [0, 1].
//!
//! The SimCLR recipe (docs/training.md §8): random resized crop (scale 0.2–1, aspect 3/4–4/3,
//! bilinear back to the input size), horizontal flip (p 0.5), colour jitter (p 0.8:
//! brightness and contrast; also saturation and hue for 3-channel input, in random order)
//! and grayscale (p 0.2, 3-channel only). Every random choice comes from a per-image
//! ChaCha8 stream derived from one key and the image's index, so a batch augments the same
//! way whatever the thread count.
//!
//! Crops report their [`ViewGeometry`] so gates of two views can be aligned geometrically.

use ndarray::{Array4, ArrayView3, ArrayView4, ArrayViewMut3, Axis, Zip};
use rand::RngCore;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::rng::{below, chance, rng_for, shuffle, uniform_f32};
use super::{DataError, Normalization};

/// Where a view's pixels come from in its source image.
///
/// The crop box spans source rows `y0 … y0 + h` and columns `x0 … x0 + w` in pixel units
/// (pixel `k` covers `[k, k + 1)`; a padded crop may start at a negative offset). An
/// `out_h`×`out_w` view samples, at its pixel (i, j), the source point given by
/// [`ViewGeometry::source_point`]: `y = y0 + (i + ½)·h/out_h − ½` and
/// `x = x0 + (j′ + ½)·w/out_w − ½` in pixel-centre coordinates, where `j′ = out_w − 1 − j` when
/// `flipped` (the flip is applied after the crop) and `j′ = j` otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ViewGeometry {
    /// Top edge of the crop box in source pixels.
    pub y0: f32,
    /// Left edge of the crop box in source pixels.
    pub x0: f32,
    /// Height of the crop box in source pixels.
    pub h: f32,
    /// Width of the crop box in source pixels.
    pub w: f32,
    /// Whether the view was mirrored left–right after cropping.
    pub flipped: bool,
}

impl ViewGeometry {
    /// The whole `h`×`w` image, not flipped.
    pub fn full(h: usize, w: usize) -> Self {
        ViewGeometry {
            y0: 0.0,
            x0: 0.0,
            h: h as f32,
            w: w as f32,
            flipped: false,
        }
    }

    /// The source point (row, column, in pixel-centre coordinates) that view pixel (i, j)
    /// of an `out_h`×`out_w` view samples. Fractional `i`, `j` are allowed (e.g. the centre
    /// of a gate block).
    pub fn source_point(&self, i: f32, j: f32, out_h: usize, out_w: usize) -> (f32, f32) {
        let jj = if self.flipped {
            out_w as f32 - 1.0 - j
        } else {
            j
        };
        let y = self.y0 + (i + 0.5) * self.h / out_h as f32 - 0.5;
        let x = self.x0 + (jj + 0.5) * self.w / out_w as f32 - 0.5;
        (y, x)
    }

    /// The inverse of [`ViewGeometry::source_point`]: the view position (i, j) of an
    /// `out_h`×`out_w` view that samples source point (y, x). May lie outside the view.
    pub fn view_point(&self, y: f32, x: f32, out_h: usize, out_w: usize) -> (f32, f32) {
        let i = (y + 0.5 - self.y0) * out_h as f32 / self.h - 0.5;
        let jj = (x + 0.5 - self.x0) * out_w as f32 / self.w - 0.5;
        let j = if self.flipped {
            out_w as f32 - 1.0 - jj
        } else {
            jj
        };
        (i, j)
    }

    /// Where cell (i, j) of this view's `out_h`×`out_w` grid lands in `other`'s grid of the
    /// same size (both views cut from the same image), or `None` when that source point lies
    /// outside `other`'s crop. Works at any grid resolution, e.g. an 8×8 gate map of a 32×32
    /// view: the grid spans the whole view either way.
    pub fn map_point(
        &self,
        other: &ViewGeometry,
        i: f32,
        j: f32,
        out_h: usize,
        out_w: usize,
    ) -> Option<(f32, f32)> {
        let (y, x) = self.source_point(i, j, out_h, out_w);
        let (oi, oj) = other.view_point(y, x, out_h, out_w);
        let inside = |v: f32, n: usize| (-0.5..=n as f32 - 0.5).contains(&v);
        (inside(oi, out_h) && inside(oj, out_w)).then_some((oi, oj))
    }
}

/// How a view is cut out of its image.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum CropMode {
    /// The whole image.
    Full,
    /// torchvision's `RandomResizedCrop`: area fraction in `scale`, aspect ratio w/h
    /// log-uniform in `ratio`, bilinear resize back to the input size.
    ResizedCrop {
        /// Range of the crop's area as a fraction of the image.
        scale: (f32, f32),
        /// Range of the crop's width / height.
        ratio: (f32, f32),
    },
    /// Zero-pad by `pad` pixels and take a random crop of the original size (CIFAR
    /// supervised recipe).
    Padded {
        /// Padding on each side, pixels.
        pad: usize,
    },
}

/// Colour jitter strengths, applied with probability `p` (torchvision `ColorJitter`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ColorJitter {
    /// Brightness factor drawn from [max(0, 1 − b), 1 + b].
    pub brightness: f32,
    /// Contrast factor drawn from [max(0, 1 − c), 1 + c].
    pub contrast: f32,
    /// Saturation factor drawn from [max(0, 1 − s), 1 + s] (3-channel input only).
    pub saturation: f32,
    /// Hue shift drawn from [−h, h], in turns (3-channel input only; h ≤ 0.5).
    pub hue: f32,
    /// Probability of applying the jitter at all.
    pub p: f32,
}

/// The augmentation pipeline's settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AugmentConfig {
    /// How views are cropped.
    pub crop: CropMode,
    /// Probability of a horizontal flip.
    pub flip_p: f32,
    /// Colour jitter, if any.
    pub jitter: Option<ColorJitter>,
    /// Probability of converting to grayscale (3-channel input only).
    pub grayscale_p: f32,
}

impl AugmentConfig {
    /// SimCLR's recipe (docs/training.md §8).
    pub fn ssl() -> Self {
        AugmentConfig {
            crop: CropMode::ResizedCrop {
                scale: (0.2, 1.0),
                ratio: (3.0 / 4.0, 4.0 / 3.0),
            },
            flip_p: 0.5,
            jitter: Some(ColorJitter {
                brightness: 0.4,
                contrast: 0.4,
                saturation: 0.4,
                hue: 0.1,
                p: 0.8,
            }),
            grayscale_p: 0.2,
        }
    }

    /// The usual CIFAR supervised recipe: 4-pixel padded random crop and flip.
    pub fn supervised() -> Self {
        AugmentConfig {
            crop: CropMode::Padded { pad: 4 },
            flip_p: 0.5,
            jitter: None,
            grayscale_p: 0.0,
        }
    }

    /// No augmentation (evaluation).
    pub fn none() -> Self {
        AugmentConfig {
            crop: CropMode::Full,
            flip_p: 0.0,
            jitter: None,
            grayscale_p: 0.0,
        }
    }
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self::ssl()
    }
}

/// Draws a crop box as torchvision's `RandomResizedCrop.get_params` does: up to ten tries
/// of a random area and log-uniform aspect ratio, then a centre crop clamped to `ratio`.
pub fn random_resized_crop_box(
    h: usize,
    w: usize,
    scale: (f32, f32),
    ratio: (f32, f32),
    rng: &mut impl RngCore,
) -> ViewGeometry {
    let area = (h * w) as f32;
    let (log_r0, log_r1) = (ratio.0.ln(), ratio.1.ln());
    for _ in 0..10 {
        let target = area * uniform_f32(rng, scale.0, scale.1);
        let aspect = uniform_f32(rng, log_r0, log_r1).exp();
        let cw = (target * aspect).sqrt().round() as usize;
        let ch = (target / aspect).sqrt().round() as usize;
        if cw > 0 && cw <= w && ch > 0 && ch <= h {
            let y0 = below(rng, h - ch + 1);
            let x0 = below(rng, w - cw + 1);
            return ViewGeometry {
                y0: y0 as f32,
                x0: x0 as f32,
                h: ch as f32,
                w: cw as f32,
                flipped: false,
            };
        }
    }
    let in_ratio = w as f32 / h.max(1) as f32;
    let (cw, ch) = if in_ratio < ratio.0 {
        (w, ((w as f32 / ratio.0).round() as usize).min(h))
    } else if in_ratio > ratio.1 {
        (((h as f32 * ratio.1).round() as usize).min(w), h)
    } else {
        (w, h)
    };
    ViewGeometry {
        y0: ((h - ch) / 2) as f32,
        x0: ((w - cw) / 2) as f32,
        h: ch as f32,
        w: cw as f32,
        flipped: false,
    }
}

/// One bilinear tap pair along an axis: indices and weights. A tap outside the image gets
/// weight 0 (and a harmless in-range index), which gives padded crops their zero fill
/// without a branch per pixel.
#[derive(Clone, Copy)]
struct Taps {
    i0: usize,
    i1: usize,
    w0: f32,
    w1: f32,
}

fn taps(coord: f32, lo: f32, hi: f32, len: usize) -> Taps {
    // Clamping to the crop box's pixel centres matches crop-then-resize (torchvision).
    let c = coord.clamp(lo, hi.max(lo));
    let f = c.floor();
    let frac = c - f;
    let tap = |i: isize, w: f32| {
        if i >= 0 && (i as usize) < len {
            (i as usize, w)
        } else {
            (0, 0.0)
        }
    };
    let (i0, w0) = tap(f as isize, 1.0 - frac);
    let (i1, w1) = tap(f as isize + 1, frac);
    Taps { i0, i1, w0, w1 }
}

/// Samples `dst` (C×out_h×out_w) from `src` (C×H×W) through `geometry`, bilinearly, with
/// zeros outside the source image. A full, unflipped box of the source's size copies it.
pub fn resized_crop_into(
    src: ArrayView3<'_, f32>,
    geometry: &ViewGeometry,
    dst: ArrayViewMut3<'_, f32>,
) -> Result<(), DataError> {
    if src.shape()[0] != dst.shape()[0] {
        return Err(DataError::invalid(
            "resized_crop_into",
            format!(
                "source has {} channels, destination {}",
                src.shape()[0],
                dst.shape()[0]
            ),
        ));
    }
    resized_crop_unchecked(src, geometry, dst);
    Ok(())
}

fn resized_crop_unchecked(
    src: ArrayView3<'_, f32>,
    g: &ViewGeometry,
    mut dst: ArrayViewMut3<'_, f32>,
) {
    let (channels, oh, ow) = dst.dim();
    let (_, h, w) = src.dim();
    if h == 0 || w == 0 {
        dst.fill(0.0);
        return;
    }
    let ys: Vec<Taps> = (0..oh)
        .map(|i| {
            taps(
                g.source_point(i as f32, 0.0, oh, ow).0,
                g.y0,
                g.y0 + g.h - 1.0,
                h,
            )
        })
        .collect();
    let xs: Vec<Taps> = (0..ow)
        .map(|j| {
            taps(
                g.source_point(0.0, j as f32, oh, ow).1,
                g.x0,
                g.x0 + g.w - 1.0,
                w,
            )
        })
        .collect();
    for c in 0..channels {
        let plane = src.index_axis(Axis(0), c);
        let mut out = dst.index_axis_mut(Axis(0), c);
        for (ty, mut out_row) in ys.iter().zip(out.rows_mut()) {
            let (r0, r1) = (plane.row(ty.i0), plane.row(ty.i1));
            for (tx, o) in xs.iter().zip(out_row.iter_mut()) {
                let top = tx.w0 * r0[tx.i0] + tx.w1 * r0[tx.i1];
                let bottom = tx.w0 * r1[tx.i0] + tx.w1 * r1[tx.i1];
                *o = ty.w0 * top + ty.w1 * bottom;
            }
        }
    }
}

/// Mirrors an image (C×H×W) left–right in place.
pub fn hflip(mut img: ArrayViewMut3<'_, f32>) {
    let w = img.shape()[2];
    for mut row in img.lanes_mut(Axis(2)) {
        for x in 0..w / 2 {
            row.swap(x, w - 1 - x);
        }
    }
}

fn gray(r: f32, g: f32, b: f32) -> f32 {
    0.299 * r + 0.587 * g + 0.114 * b
}

/// Applies `f` to every (r, g, b) pixel of a 3-channel image in place.
fn for_each_rgb(img: &mut ArrayViewMut3<'_, f32>, f: impl FnMut(&mut f32, &mut f32, &mut f32)) {
    let (r, rest) = img.view_mut().split_at(Axis(0), 1);
    let (g, b) = rest.split_at(Axis(0), 1);
    Zip::from(r).and(g).and(b).for_each(f);
}

/// Mean of the image's grayscale version (of the image itself for one channel).
fn gray_mean(img: &ArrayViewMut3<'_, f32>) -> f32 {
    let (c, h, w) = img.dim();
    let n = (h * w).max(1) as f64;
    let sum: f64 = if c == 3 {
        let mut acc = 0.0f64;
        Zip::from(img.index_axis(Axis(0), 0))
            .and(img.index_axis(Axis(0), 1))
            .and(img.index_axis(Axis(0), 2))
            .for_each(|&r, &g, &b| acc += f64::from(gray(r, g, b)));
        acc
    } else {
        img.iter().map(|&v| f64::from(v)).sum::<f64>() / c.max(1) as f64
    };
    (sum / n) as f32
}

/// Multiplies every pixel by `factor`, clamped to [0, 1].
pub fn adjust_brightness(mut img: ArrayViewMut3<'_, f32>, factor: f32) {
    img.mapv_inplace(|v| (v * factor).clamp(0.0, 1.0));
}

/// Blends with the image's mean gray level: `factor·x + (1 − factor)·mean`, clamped.
pub fn adjust_contrast(mut img: ArrayViewMut3<'_, f32>, factor: f32) {
    let mean = gray_mean(&img);
    img.mapv_inplace(|v| (factor * v + (1.0 - factor) * mean).clamp(0.0, 1.0));
}

/// Blends each pixel with its own gray level (3-channel only; other inputs unchanged).
pub fn adjust_saturation(mut img: ArrayViewMut3<'_, f32>, factor: f32) {
    if img.shape()[0] != 3 {
        return;
    }
    for_each_rgb(&mut img, |r, g, b| {
        let gr = (1.0 - factor) * gray(*r, *g, *b);
        for v in [r, g, b] {
            *v = (factor * *v + gr).clamp(0.0, 1.0);
        }
    });
}

/// `v` modulo 1 (into [0, 1)), cheaper than `rem_euclid` for hue turns.
fn wrap_unit(v: f32) -> f32 {
    let r = v - v.floor();
    if r >= 1.0 { 0.0 } else { r }
}

fn rgb_to_hsv(r: f32, g: f32, b: f32) -> (f32, f32, f32) {
    let maxc = r.max(g).max(b);
    let minc = r.min(g).min(b);
    let cr = maxc - minc;
    if cr == 0.0 {
        return (0.0, 0.0, maxc);
    }
    let s = if maxc > 0.0 { cr / maxc } else { 0.0 };
    let (rc, gc, bc) = ((maxc - r) / cr, (maxc - g) / cr, (maxc - b) / cr);
    let h = if maxc == r {
        bc - gc
    } else if maxc == g {
        2.0 + rc - bc
    } else {
        4.0 + gc - rc
    };
    (wrap_unit(h / 6.0 + 1.0), s, maxc)
}

fn hsv_to_rgb(h: f32, s: f32, v: f32) -> (f32, f32, f32) {
    let h6 = h * 6.0;
    let i = h6.floor();
    let f = h6 - i;
    let p = (v * (1.0 - s)).clamp(0.0, 1.0);
    let q = (v * (1.0 - s * f)).clamp(0.0, 1.0);
    let t = (v * (1.0 - s * (1.0 - f))).clamp(0.0, 1.0);
    match (i as i64).rem_euclid(6) {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    }
}

/// Rotates the hue by `shift` turns (3-channel only; other inputs unchanged).
pub fn adjust_hue(mut img: ArrayViewMut3<'_, f32>, shift: f32) {
    if img.shape()[0] != 3 {
        return;
    }
    for_each_rgb(&mut img, |r, g, b| {
        let (hh, s, v) = rgb_to_hsv(*r, *g, *b);
        (*r, *g, *b) = hsv_to_rgb(wrap_unit(hh + shift), s, v);
    });
}

/// Replaces every channel by the ITU-R 601 gray level (3-channel only; others unchanged).
pub fn to_grayscale(mut img: ArrayViewMut3<'_, f32>) {
    if img.shape()[0] != 3 {
        return;
    }
    for_each_rgb(&mut img, |r, g, b| {
        let gr = gray(*r, *g, *b);
        (*r, *g, *b) = (gr, gr, gr);
    });
}

fn factor(rng: &mut impl RngCore, strength: f32) -> f32 {
    uniform_f32(rng, (1.0 - strength).max(0.0), 1.0 + strength)
}

#[derive(Clone, Copy)]
enum JitterOp {
    Brightness,
    Contrast,
    Saturation,
    Hue,
}

fn jitter(mut img: ArrayViewMut3<'_, f32>, j: &ColorJitter, rng: &mut impl RngCore) {
    let mut ops = vec![JitterOp::Brightness, JitterOp::Contrast];
    if img.shape()[0] == 3 {
        ops.extend([JitterOp::Saturation, JitterOp::Hue]);
    }
    shuffle(rng, &mut ops);
    for op in ops {
        match op {
            JitterOp::Brightness => adjust_brightness(img.view_mut(), factor(rng, j.brightness)),
            JitterOp::Contrast => adjust_contrast(img.view_mut(), factor(rng, j.contrast)),
            JitterOp::Saturation => adjust_saturation(img.view_mut(), factor(rng, j.saturation)),
            JitterOp::Hue => adjust_hue(img.view_mut(), uniform_f32(rng, -j.hue, j.hue)),
        }
    }
}

fn augment_unchecked(
    src: ArrayView3<'_, f32>,
    mut dst: ArrayViewMut3<'_, f32>,
    config: &AugmentConfig,
    rng: &mut impl RngCore,
) -> ViewGeometry {
    let (channels, h, w) = src.dim();
    let mut geometry = match config.crop {
        CropMode::Full => ViewGeometry::full(h, w),
        CropMode::ResizedCrop { scale, ratio } => random_resized_crop_box(h, w, scale, ratio, rng),
        CropMode::Padded { pad } => {
            let dy = below(rng, 2 * pad + 1) as f32 - pad as f32;
            let dx = below(rng, 2 * pad + 1) as f32 - pad as f32;
            ViewGeometry {
                y0: dy,
                x0: dx,
                h: h as f32,
                w: w as f32,
                flipped: false,
            }
        }
    };
    geometry.flipped = config.flip_p > 0.0 && chance(rng, config.flip_p);
    resized_crop_unchecked(src, &geometry, dst.view_mut());
    if let Some(j) = &config.jitter
        && chance(rng, j.p)
    {
        jitter(dst.view_mut(), j, rng);
    }
    if channels == 3 && config.grayscale_p > 0.0 && chance(rng, config.grayscale_p) {
        to_grayscale(dst.view_mut());
    }
    geometry
}

/// Augments one image `src` (C×H×W) into `dst` (C×out_h×out_w) and returns where the view
/// came from. Draw order: crop, flip, jitter (apply?, order, factors), grayscale.
pub fn augment_into(
    src: ArrayView3<'_, f32>,
    dst: ArrayViewMut3<'_, f32>,
    config: &AugmentConfig,
    rng: &mut impl RngCore,
) -> Result<ViewGeometry, DataError> {
    if src.shape()[0] != dst.shape()[0] {
        return Err(DataError::invalid(
            "augment_into",
            format!(
                "source has {} channels, destination {}",
                src.shape()[0],
                dst.shape()[0]
            ),
        ));
    }
    if matches!(config.crop, CropMode::Padded { .. } | CropMode::Full) && src.shape() != dst.shape()
    {
        return Err(DataError::invalid(
            "augment_into",
            format!(
                "{:?} keeps the size: source {:?}, destination {:?}",
                config.crop,
                src.shape(),
                dst.shape()
            ),
        ));
    }
    Ok(augment_unchecked(src, dst, config, rng))
}

/// One augmented view of every image of `batch` (same size, pixels in [0, 1]). Image `i`
/// uses the stream derived from `(key, i, view)`, so the result does not depend on threads.
pub fn augment_batch(
    batch: ArrayView4<'_, f32>,
    config: &AugmentConfig,
    key: u64,
    view: u64,
) -> (Array4<f32>, Vec<ViewGeometry>) {
    let (n, _, h, w) = batch.dim();
    let mut out = Array4::<f32>::zeros(batch.raw_dim());
    let mut geometry = vec![ViewGeometry::full(h, w); n];
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(geometry.par_iter_mut())
        .enumerate()
        .for_each(|(i, (dst, g))| {
            let mut rng = rng_for(key, &[i as u64, view]);
            *g = augment_unchecked(batch.index_axis(Axis(0), i), dst, config, &mut rng);
        });
    (out, geometry)
}

/// Two independently augmented views of every image (SSL positives), pixels in [0, 1],
/// not normalised. Draws one `u64` key from `rng`; view 1 of image `i` uses the stream
/// `(key, i, 0)`, view 2 `(key, i, 1)`.
pub fn two_views(
    batch: ArrayView4<'_, f32>,
    config: &AugmentConfig,
    rng: &mut impl RngCore,
) -> (
    Array4<f32>,
    Array4<f32>,
    Vec<ViewGeometry>,
    Vec<ViewGeometry>,
) {
    let key = rng.next_u64();
    let (a, ga) = augment_batch(batch, config, key, 0);
    let (b, gb) = augment_batch(batch, config, key, 1);
    (a, b, ga, gb)
}

/// Two normalised views of a batch, with their geometries.
#[derive(Debug, Clone, PartialEq)]
pub struct TwoViews {
    /// First views, B×C×H×W, normalised.
    pub first: Array4<f32>,
    /// Second views, B×C×H×W, normalised.
    pub second: Array4<f32>,
    /// Geometry of each first view.
    pub first_geometry: Vec<ViewGeometry>,
    /// Geometry of each second view.
    pub second_geometry: Vec<ViewGeometry>,
}

/// Augmentation followed by normalisation: what a training loop feeds the network.
#[derive(Debug, Clone, PartialEq)]
pub struct Augmenter {
    /// Augmentation settings.
    pub config: AugmentConfig,
    /// Normalisation applied after augmentation.
    pub normalization: Normalization,
}

impl Augmenter {
    /// Combines settings and training-set statistics.
    pub fn new(config: AugmentConfig, normalization: Normalization) -> Self {
        Augmenter {
            config,
            normalization,
        }
    }

    /// One augmented, normalised view per image (supervised training); draws one key from
    /// `rng`.
    pub fn view(
        &self,
        batch: ArrayView4<'_, f32>,
        rng: &mut impl RngCore,
    ) -> Result<(Array4<f32>, Vec<ViewGeometry>), DataError> {
        let (mut out, g) = augment_batch(batch, &self.config, rng.next_u64(), 0);
        self.normalization.apply(out.view_mut())?;
        Ok((out, g))
    }

    /// Two augmented, normalised views per image (SSL); draws one key from `rng`.
    pub fn two_views(
        &self,
        batch: ArrayView4<'_, f32>,
        rng: &mut impl RngCore,
    ) -> Result<TwoViews, DataError> {
        let (mut first, mut second, first_geometry, second_geometry) =
            two_views(batch, &self.config, rng);
        self.normalization.apply(first.view_mut())?;
        self.normalization.apply(second.view_mut())?;
        Ok(TwoViews {
            first,
            second,
            first_geometry,
            second_geometry,
        })
    }

    /// The un-augmented, normalised batch (evaluation, kNN bank, calibration).
    pub fn eval_view(&self, batch: ArrayView4<'_, f32>) -> Result<Array4<f32>, DataError> {
        let mut out = batch.to_owned();
        self.normalization.apply(out.view_mut())?;
        Ok(out)
    }
}
