namespace GidCluster.Dataprep.Samples;

/// <summary>
/// Frequency-adaptive normalization of spectral volumes (ARCHITECTURE.md §1.1, paper §4.1):
/// <c>S' = sign(S) · sqrt(|S| / s_k)</c> and its inverse <c>S = sign(S') · S'² · s_k</c>, per frequency bin k
/// of a <c>[16, 4, H, W]</c> volume; s_k is the 95th percentile of |S| in bin k over the training set (manifest).
/// </summary>
public static class SpectralNormalization
{
    public const int Bins = 16;

    /// <summary>Normalizes a raw fp16 volume into <paramref name="dest"/> (same length).</summary>
    public static void Normalize(ReadOnlySpan<Half> raw, Span<float> dest, ReadOnlySpan<float> scales)
    {
        var binSize = CheckShapes(raw.Length, dest.Length, scales);
        for (var k = 0; k < Bins; k++)
        {
            var inv = 1f / scales[k];
            var src = raw.Slice(k * binSize, binSize);
            var dst = dest.Slice(k * binSize, binSize);
            for (var i = 0; i < src.Length; i++)
            {
                var v = (float)src[i];
                dst[i] = MathF.Sign(v) * MathF.Sqrt(MathF.Abs(v) * inv);
            }
        }
    }

    /// <summary>Normalizes a raw float volume (same layout) into <paramref name="dest"/>; may be the same buffer.</summary>
    public static void Normalize(ReadOnlySpan<float> raw, Span<float> dest, ReadOnlySpan<float> scales)
    {
        var binSize = CheckShapes(raw.Length, dest.Length, scales);
        for (var k = 0; k < Bins; k++)
        {
            var inv = 1f / scales[k];
            for (var i = k * binSize; i < (k + 1) * binSize; i++)
            {
                var v = raw[i];
                dest[i] = MathF.Sign(v) * MathF.Sqrt(MathF.Abs(v) * inv);
            }
        }
    }

    /// <summary>The inverse: raw coefficients from normalized ones (used after sampling the diffusion model).</summary>
    public static void Denormalize(ReadOnlySpan<float> normalized, Span<float> dest, ReadOnlySpan<float> scales)
    {
        var binSize = CheckShapes(normalized.Length, dest.Length, scales);
        for (var k = 0; k < Bins; k++)
        {
            var s = scales[k];
            for (var i = k * binSize; i < (k + 1) * binSize; i++)
            {
                var v = normalized[i];
                dest[i] = MathF.Sign(v) * v * v * s;
            }
        }
    }

    /// <summary>Checks scales (16 positive finite numbers) and returns the values per bin.</summary>
    public static int CheckShapes(int sourceLength, int destLength, ReadOnlySpan<float> scales)
    {
        ValidateScales(scales);
        if (sourceLength % Bins != 0)
            throw new ArgumentException($"a spectral volume has {Bins} bins; {sourceLength} values do not divide into them");
        if (destLength != sourceLength)
            throw new ArgumentException($"destination holds {destLength} values, source {sourceLength}");
        return sourceLength / Bins;
    }

    public static void ValidateScales(ReadOnlySpan<float> scales)
    {
        if (scales.Length != Bins)
            throw new ArgumentException($"normalization needs {Bins} scales s_k, got {scales.Length}");
        for (var k = 0; k < Bins; k++)
        {
            if (!float.IsFinite(scales[k]) || scales[k] <= 0)
                throw new ArgumentException($"normalization scale s_{k} = {scales[k]} must be positive and finite");
        }
    }
}
