//! Gate-density heatmaps: the colour scale and the spatial binning they draw.

use cdg_core::{ConvParams, GateBlock, GateSpec, LayerMasks, LayerShape, OutputRule};
use cdg_report::{SpatialDensity, spatial_density, viridis};

#[test]
fn viridis_ends_and_clamps() {
    assert_eq!(viridis(0.0), [68, 1, 84]);
    assert_eq!(viridis(1.0), [253, 231, 37]);
    assert_eq!(viridis(7.0), viridis(1.0));
    assert_eq!(viridis(-1.0), viridis(0.0));
}

#[test]
fn spatial_density_averages_samples_and_channels_and_bins() {
    let shape = LayerShape::conv(
        "g",
        ConvParams {
            in_channels: 8,
            in_height: 64,
            in_width: 64,
            out_channels: 32,
            kernel: [3, 3],
            stride: 1,
            padding: 1,
            rule: OutputRule::Floor,
        },
    )
    .unwrap();
    let spec = GateSpec {
        base_channels: 2,
        block: GateBlock::new(16, 1, 1),
    };
    // On where (h + s) is even and c == 0: per cell, mean over 2 channel blocks, 2 samples.
    let m = LayerMasks::from_fn(&shape, &spec, 2, |s, c, h, _| {
        c == 0 && (h + s as u64).is_multiple_of(2)
    })
    .unwrap();
    let SpatialDensity { rows, cols, values } = spatial_density(&m);
    assert_eq!((rows, cols), (32, 32));
    // Each bin holds rows 2r and 2r+1: exactly half of (sample, row) pairs are on for c 0.
    assert!(
        values.iter().all(|&x| (x - 0.25).abs() < 1e-12),
        "{values:?}"
    );
}
