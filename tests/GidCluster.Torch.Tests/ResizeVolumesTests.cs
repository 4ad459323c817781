using GidCluster.Dataprep.Shards;

namespace GidCluster.Torch.Tests;

/// <summary>
/// Resizing keeps displacements in pixels of the new size, and <see cref="AreaResize"/> (the loader's resize of training
/// samples, the demo's of predicted volumes, down and up) takes the same windows as libtorch's <c>adaptive_avg_pool2d</c>.
/// </summary>
public sealed class ResizeVolumesTests
{
    [Fact]
    public void Raw_volumes_keep_pixel_units_when_resized()
    {
        // One constant per (bin, channel): Re/Im x, Re/Im y of both signs, 2 bins of 40×64.
        float[] perChannel = [2.5f, -1.0f, 0.4f, -6.0f];
        var values = Enumerable.Range(0, 2 * 4).SelectMany(p => Enumerable.Repeat(perChannel[p % 4], 40 * 64)).ToArray();
        float[] ratio = [0.25f, 0.25f, 0.2f, 0.2f]; // 64→16 wide, 40→8 high
        var raw = AreaResize.Volume(values, 40, 64, 8, 16);
        Assert.Equal(2 * 4 * 8 * 16, raw.Length);
        for (var i = 0; i < raw.Length; i++)
        {
            var expected = perChannel[i / (8 * 16) % 4] * ratio[i / (8 * 16) % 4];
            Assert.True(Math.Abs(raw[i] - expected) <= 1e-6f * Math.Abs(expected), $"raw coefficients must scale with the size ratio: [{i}] {raw[i]} vs {expected}");
        }
    }

    [Theory]
    [InlineData(40, 64, 8, 16)]
    [InlineData(7, 10, 3, 4)]
    [InlineData(160, 256, 32, 64)]
    [InlineData(5, 6, 5, 4)]
    [InlineData(8, 16, 40, 64)]
    public void Area_resize_takes_the_windows_of_adaptive_avg_pool2d(int height, int width, int outHeight, int outWidth)
    {
        using var scope = torch.NewDisposeScope();
        var source = torch.randn([3, height, width], generator: new torch.Generator(7));
        var expected = torch.nn.functional.adaptive_avg_pool2d(source.unsqueeze(0), [outHeight, outWidth])[0].contiguous().data<float>().ToArray();
        var ours = AreaResize.Planes(source.contiguous().data<float>().ToArray(), 3, height, width, outHeight, outWidth);
        Assert.Equal(expected.Length, ours.Length);
        for (var i = 0; i < ours.Length; i++)
            Assert.True(Math.Abs(expected[i] - ours[i]) <= 1e-5f, $"[{i}]: {ours[i]} vs libtorch {expected[i]}");
        // The windows mirror onto themselves: resizing a mirrored plane gives the mirrored result.
        var mirrored = AreaResize.Planes(source.flip(2).contiguous().data<float>().ToArray(), 3, height, width, outHeight, outWidth);
        var back = torch.tensor(mirrored, [3, outHeight, outWidth]).flip(2).contiguous().data<float>().ToArray();
        for (var i = 0; i < ours.Length; i++)
            Assert.True(Math.Abs(back[i] - ours[i]) <= 1e-5f, $"mirrored [{i}]");
    }
}
