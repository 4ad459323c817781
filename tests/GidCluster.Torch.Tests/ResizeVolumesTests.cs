using GidCluster.Training.Trainer;

namespace GidCluster.Torch.Tests;

/// <summary>
/// Resizing a spectral volume keeps displacements in pixels of the new size: raw coefficients scale with the size
/// ratio, normalized ones (sign·√(|S|/s)) with its square root — so normalizing and then resizing (what the trainer does)
/// equals resizing the raw volume and then normalizing, checked on constant fields where pooling changes nothing.
/// </summary>
public sealed class ResizeVolumesTests
{
    [Fact]
    public void Normalized_and_raw_volumes_keep_pixel_units_when_resized()
    {
        using var scope = torch.NewDisposeScope();
        const double scale = 3.0;
        // One constant per (bin, channel): Re/Im x, Re/Im y of both signs.
        var values = torch.tensor(new float[] { 2.5f, -1.0f, 0.4f, -6.0f }).reshape(1, 1, 4, 1, 1).expand(1, 2, 4, 40, 64).contiguous();
        static Tensor Normalize(Tensor v) => v.sign() * (v.abs() / scale).sqrt();
        var ratio = torch.tensor(new float[] { 0.25f, 0.25f, 0.2f, 0.2f }).reshape(1, 1, 4, 1, 1); // 64→16 wide, 40→8 high

        var raw = Trainer.ResizeVolumes(values, 16, 8, normalized: false);
        Assert.Equal([1L, 2, 4, 8, 16], raw.shape);
        Assert.True(raw.allclose(values[.., .., .., ..8, ..16] * ratio, rtol: 1e-6, atol: 1e-7), "raw coefficients must scale with the size ratio");

        var normalized = Trainer.ResizeVolumes(Normalize(values), 16, 8, normalized: true);
        var expected = Normalize(values[.., .., .., ..8, ..16] * ratio);
        Assert.True(normalized.allclose(expected, rtol: 1e-5, atol: 1e-7),
            $"normalized coefficients must scale with the ratio's square root: got {normalized[0, 0, .., 0, 0].str()}, expected {expected[0, 0, .., 0, 0].str()}");
    }
}
