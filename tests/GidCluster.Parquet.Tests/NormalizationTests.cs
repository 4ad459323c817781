using System.Globalization;
using System.Runtime.InteropServices;
using GidCluster.Dataprep.Samples;
using GidCluster.TestSupport;

namespace GidCluster.Parquet.Tests;

/// <summary>The normalization transform and its inverse against numpy.</summary>
public class NormalizationTests
{
    private const string NumpyScript = """
        import sys, numpy as np
        h, w = int(sys.argv[2]), int(sys.argv[3])
        raw = np.fromfile(sys.argv[1] + '.raw', dtype='<f2').astype(np.float32).reshape(16, 4, h, w)
        s = np.fromfile(sys.argv[1] + '.scales', dtype='<f4').reshape(16, 1, 1, 1)
        norm = np.sign(raw) * np.sqrt(np.abs(raw) / s)
        norm.astype('<f4').tofile(sys.argv[1] + '.norm')
        z = np.fromfile(sys.argv[1] + '.z', dtype='<f4').reshape(16, 4, h, w)
        inv = np.sign(z) * z * z * s
        inv.astype('<f4').tofile(sys.argv[1] + '.inv')
        """;

    [Fact]
    public void Transform_and_inverse_match_numpy()
    {
        const int h = 10, w = 12;
        var rng = new Random(5);
        var n = 16 * 4 * h * w;
        var raw = new Half[n];
        for (var i = 0; i < n; i++)
            raw[i] = (Half)((rng.NextDouble() * 2 - 1) * Math.Pow(10, rng.Next(-3, 3)));
        raw[0] = (Half)0; // sign(0) = 0 on both sides
        var scales = Enumerable.Range(0, 16).Select(k => (float)(0.05 + rng.NextDouble() * 5 / (k + 1))).ToArray();
        var z = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 6 - 3)).ToArray();

        using var dir = Paths.NewTempDir();
        var stem = Path.Combine(dir.Path, "v");
        File.WriteAllBytes(stem + ".raw", MemoryMarshal.AsBytes(raw.AsSpan()).ToArray());
        File.WriteAllBytes(stem + ".scales", MemoryMarshal.AsBytes(scales.AsSpan()).ToArray());
        File.WriteAllBytes(stem + ".z", MemoryMarshal.AsBytes(z.AsSpan()).ToArray());
        Programs.RunPython(NumpyScript, [stem, h.ToString(CultureInfo.InvariantCulture), w.ToString(CultureInfo.InvariantCulture)]);
        var numpyNorm = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(stem + ".norm")).ToArray();
        var numpyInv = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(stem + ".inv")).ToArray();

        var ours = new float[n];
        SpectralNormalization.Normalize(raw, ours, scales);
        var inverse = new float[n];
        SpectralNormalization.Denormalize(z, inverse, scales);
        for (var i = 0; i < n; i++)
        {
            Assert.True(Math.Abs(ours[i] - numpyNorm[i]) <= 1e-6f * Math.Max(1, Math.Abs(numpyNorm[i])), $"normalize [{i}]: {ours[i]} vs numpy {numpyNorm[i]}");
            Assert.True(Math.Abs(inverse[i] - numpyInv[i]) <= 1e-6f * Math.Max(1, Math.Abs(numpyInv[i])), $"inverse [{i}]: {inverse[i]} vs numpy {numpyInv[i]}");
        }

        // And the two are inverses of each other.
        var back = new float[n];
        SpectralNormalization.Denormalize(ours, back, scales);
        for (var i = 0; i < n; i++)
            Assert.True(Math.Abs(back[i] - (float)raw[i]) <= 1e-5f * Math.Max(1, Math.Abs((float)raw[i])), $"roundtrip [{i}]");
    }

    [Fact]
    public void Bad_scales_are_refused_clearly()
    {
        var v = new float[16 * 4];
        var e = Assert.Throws<ArgumentException>(() => SpectralNormalization.Normalize(v, v, new float[15]));
        Assert.Contains("16 scales", e.Message);
        var zero = Enumerable.Repeat(1f, 16).ToArray();
        zero[3] = 0;
        Assert.Contains("s_3", Assert.Throws<ArgumentException>(() => SpectralNormalization.Normalize(v, v, zero)).Message);
    }
}
