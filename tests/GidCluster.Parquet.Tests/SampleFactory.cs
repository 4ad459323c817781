using GidCluster.Dataprep.Samples;

namespace GidCluster.Parquet.Tests;

/// <summary>Random but seeded samples of any size.</summary>
internal static class SampleFactory
{
    public static Sample Make(Random rng, int width = 8, int height = 6, int targets = 2, string? videoId = null, string split = "train")
    {
        var pixels = width * height;
        var image = new byte[pixels * 3];
        rng.NextBytes(image);
        var volume = new Half[16 * 4 * pixels];
        for (var i = 0; i < volume.Length; i++)
            volume[i] = (Half)((rng.NextDouble() * 2 - 1) * Math.Pow(10, rng.Next(-2, 3)));
        var frames = new byte[pixels * 3 * targets];
        rng.NextBytes(frames);
        var offsets = Enumerable.Range(0, targets).Select(_ => rng.Next(1, 150)).ToArray();
        var flags = rng.Next(3) == 0 ? new[] { "camera_shake" } : [];
        return new Sample(
            videoId ?? $"video-{rng.Next(1000):D3}",
            rng.Next(0, 1000) * 10,
            rng.Next(2) == 0 ? 30f : 29.97f,
            width,
            height,
            image,
            volume,
            frames,
            offsets,
            $"file:///videos/clip {rng.Next(100)}.mp4",
            "dis:medium,vr=1,256x160",
            new SampleQuality(rng.NextDouble() * 3, rng.NextDouble() * 10, rng.NextDouble() * 0.1, flags),
            split);
    }

    public static List<Sample> Many(int seed, int count, int width = 8, int height = 6, int targets = 2)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(i => Make(rng, width, height, targets, $"video-{i % 5:D2}", i % 4 == 0 ? "test" : "train")).ToList();
    }

    public static void AssertEqual(Sample expected, Sample actual)
    {
        Assert.Equal(expected.VideoId, actual.VideoId);
        Assert.Equal(expected.StartFrame, actual.StartFrame);
        Assert.Equal(expected.Fps, actual.Fps);
        Assert.Equal(expected.Width, actual.Width);
        Assert.Equal(expected.Height, actual.Height);
        Assert.Equal(expected.Image, actual.Image);
        Assert.Equal(expected.SpectralVolume, actual.SpectralVolume);
        Assert.Equal(expected.TargetFrames, actual.TargetFrames);
        Assert.Equal(expected.TargetOffsets, actual.TargetOffsets);
        Assert.Equal(expected.SourceUri, actual.SourceUri);
        Assert.Equal(expected.FlowMethod, actual.FlowMethod);
        Assert.Equal(expected.Quality.MeanDisplacement, actual.Quality.MeanDisplacement);
        Assert.Equal(expected.Quality.MaxDisplacement, actual.Quality.MaxDisplacement);
        Assert.Equal(expected.Quality.InconsistentFraction, actual.Quality.InconsistentFraction);
        Assert.Equal(expected.Quality.Flags, actual.Quality.Flags);
        Assert.Equal(expected.Split, actual.Split);
    }
}
