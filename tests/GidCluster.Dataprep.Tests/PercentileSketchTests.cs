using GidCluster.Dataprep.Statistics;
using Xunit;

namespace GidCluster.Dataprep.Tests;

public class PercentileSketchTests
{
    /// <summary>Values spread over ~7 decades (log-normal, within fp16 range as stored volumes are) plus exact zeros.</summary>
    private static float[] Data(int seed, int count)
    {
        var rng = new Random(seed);
        var data = new float[count];
        for (var i = 0; i < count; i++)
        {
            var u1 = 1 - rng.NextDouble();
            var u2 = rng.NextDouble();
            var normal = Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
            data[i] = rng.NextDouble() < 0.02 ? 0f : (float)(Math.Exp(2.0 * normal) * (rng.NextDouble() < 0.5 ? -1 : 1));
        }
        return data;
    }

    private static double ExactNearestRank(float[] values, double q)
    {
        var sorted = values.Select(Math.Abs).OrderBy(v => v).ToArray();
        return sorted[(int)Math.Ceiling(q * sorted.Length) - 1];
    }

    [Theory]
    [InlineData(1, 200_000)]
    [InlineData(2, 5_000)]
    [InlineData(3, 997)]
    public void Quantiles_are_within_the_stated_bound_of_the_exact_percentile(int seed, int count)
    {
        var data = Data(seed, count);
        var sketch = new PercentileSketch(bins: 1);
        sketch.AddValues(0, data);
        Assert.Equal(count, sketch.Count(0));
        foreach (var q in new[] { 0.5, 0.9, 0.95, 0.99, 1.0 })
        {
            var exact = ExactNearestRank(data, q);
            var estimate = sketch.Quantile(0, q);
            var relative = Math.Abs(estimate - exact) / exact;
            Assert.True(relative <= PercentileSketch.RelativeErrorBound, $"q={q}: {estimate} vs exact {exact} ({relative:P3})");
            Assert.True(relative <= 0.01);
        }
    }

    [Fact]
    public void Merging_sketches_equals_sketching_everything_at_once_and_survives_json()
    {
        var parts = Enumerable.Range(10, 3).Select(s => Data(s, 20_000)).ToArray();
        var whole = new PercentileSketch(bins: 2);
        var merged = new PercentileSketch(bins: 2);
        foreach (var part in parts)
        {
            whole.AddValues(0, part);
            whole.AddValues(1, part.Select(v => v * 10).ToArray());
            var s = new PercentileSketch(bins: 2);
            s.AddValues(0, part);
            s.AddValues(1, part.Select(v => v * 10).ToArray());
            merged.Merge(PercentileSketch.FromJson(s.ToJson()));
        }
        Assert.Equal(whole.ToJson(), merged.ToJson());
        var all = parts.SelectMany(p => p).ToArray();
        var exact = ExactNearestRank(all, 0.95);
        Assert.InRange(merged.Scales()[0], exact * (1 - PercentileSketch.RelativeErrorBound), exact * (1 + PercentileSketch.RelativeErrorBound));
        Assert.InRange(merged.Scales()[1] / merged.Scales()[0], 9.9, 10.1);
    }

    [Fact]
    public void Volumes_feed_one_bin_each_and_bad_json_is_rejected()
    {
        var volume = new Half[16 * 4 * 2];
        for (var k = 0; k < 16; k++)
        {
            for (var i = 0; i < 8; i++)
                volume[k * 8 + i] = (Half)((k + 1) * (i % 2 == 0 ? 1.0 : -1.0));
        }
        var sketch = new PercentileSketch();
        sketch.AddVolume(volume);
        for (var k = 0; k < 16; k++)
            Assert.Equal(k + 1, sketch.Quantile(k, 0.95), (k + 1) * PercentileSketch.RelativeErrorBound);
        Assert.Throws<FormatException>(() => PercentileSketch.FromJson("""{"kind":"other","bins":1,"dropped_mantissa_bits":3,"nan":[0],"counts":[{}]}"""));
    }
}
