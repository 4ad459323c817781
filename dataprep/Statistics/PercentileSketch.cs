using System.Text.Json;
using System.Text.Json.Serialization;

namespace GidCluster.Dataprep.Statistics;

/// <summary>
/// Mergeable sketch of |value| per frequency bin, for the 95th-percentile normalization scales
/// s_k (ARCHITECTURE.md §1.1 step 5).
///
/// It is a fixed log-spaced histogram whose buckets are the fp16 bit patterns with the low
/// <see cref="DroppedMantissaBits"/> mantissa bits dropped: 2^(10−3) = 128 buckets per octave,
/// each spanning a ratio ≤ 1 + 2^−7. The estimate of a percentile is the midpoint of the bucket
/// holding the nearest-rank element, so for a true percentile v ≥ 2^−14 (fp16's normal range)
/// the error is at most 2^−8 · v (0.39%) relative to the fp16-rounded data, plus fp16 rounding
/// itself (≤ 2^−11 · v) relative to the float data: ≤ 0.45% overall. Below 2^−14 the error is at most
/// 2^−22 absolute. Values beyond fp16's range land in the top bucket (infinity), NaN is counted
/// apart and ignored. Merging is adding counts, so it is exact and order-independent.
/// </summary>
public sealed class PercentileSketch
{
    public const int DroppedMantissaBits = 3;
    public const int BucketsPerBin = (0x7C00 >> DroppedMantissaBits) + 1; // up to and including +infinity
    public const double RelativeErrorBound = 0.0045;

    private readonly long[] _counts;
    private readonly long[] _nan;

    public PercentileSketch(int bins = 16)
    {
        if (bins <= 0)
            throw new ArgumentOutOfRangeException(nameof(bins));
        Bins = bins;
        _counts = new long[bins * BucketsPerBin];
        _nan = new long[bins];
    }

    public int Bins { get; }

    /// <summary>Values counted in bin <paramref name="k"/> (NaN excluded).</summary>
    public long Count(int k)
    {
        long n = 0;
        foreach (var c in _counts.AsSpan(k * BucketsPerBin, BucketsPerBin))
            n += c;
        return n;
    }

    /// <summary>Adds every value of a spectral volume <c>[K, C, H, W]</c>: bin k gets the |value| of all its C·H·W scalars.</summary>
    public void AddVolume(ReadOnlySpan<Half> volume)
    {
        if (volume.Length % Bins != 0)
            throw new ArgumentException($"volume length {volume.Length} is not a multiple of {Bins} bins");
        var perBin = volume.Length / Bins;
        for (var k = 0; k < Bins; k++)
            AddValues(k, volume.Slice(k * perBin, perBin));
    }

    /// <summary>Adds |v| of every value to bin <paramref name="k"/>.</summary>
    public void AddValues(int k, ReadOnlySpan<Half> values)
    {
        var counts = _counts.AsSpan(k * BucketsPerBin, BucketsPerBin);
        foreach (var v in values)
        {
            var bits = BitConverter.HalfToUInt16Bits(v) & 0x7FFF;
            if (bits > 0x7C00)
                _nan[k]++;
            else
                counts[bits >> DroppedMantissaBits]++;
        }
    }

    /// <summary>Adds float values (rounded to fp16 first, as the stored volumes are).</summary>
    public void AddValues(int k, ReadOnlySpan<float> values)
    {
        Span<Half> chunk = stackalloc Half[256];
        for (var i = 0; i < values.Length; i += chunk.Length)
        {
            var n = Math.Min(chunk.Length, values.Length - i);
            for (var j = 0; j < n; j++)
                chunk[j] = (Half)values[i + j];
            AddValues(k, chunk[..n]);
        }
    }

    public void Merge(PercentileSketch other)
    {
        if (other.Bins != Bins)
            throw new ArgumentException($"cannot merge a sketch of {other.Bins} bins into one of {Bins}");
        for (var i = 0; i < _counts.Length; i++)
            _counts[i] += other._counts[i];
        for (var i = 0; i < _nan.Length; i++)
            _nan[i] += other._nan[i];
    }

    /// <summary>
    /// Estimate of the nearest-rank q-quantile (0 &lt; q ≤ 1) of |value| in bin k: the element of rank ⌈q·n⌉
    /// in ascending order, within the bound stated on the class. 0 when the bin is empty.
    /// </summary>
    public double Quantile(int k, double q)
    {
        if (q is <= 0 or > 1)
            throw new ArgumentOutOfRangeException(nameof(q), q, "q must be in (0, 1]");
        var total = Count(k);
        if (total == 0)
            return 0;
        var rank = (long)Math.Ceiling(q * total);
        var counts = _counts.AsSpan(k * BucketsPerBin, BucketsPerBin);
        long seen = 0;
        for (var b = 0; b < counts.Length; b++)
        {
            seen += counts[b];
            if (seen >= rank)
                return BucketMidpoint(b);
        }
        return double.PositiveInfinity;
    }

    /// <summary>The normalization scales s_k: per bin the 95th percentile of |value|.</summary>
    public float[] Scales(double q = 0.95)
    {
        var s = new float[Bins];
        for (var k = 0; k < Bins; k++)
            s[k] = (float)Quantile(k, q);
        return s;
    }

    private static double BucketMidpoint(int bucket)
    {
        var lowBits = (ushort)(bucket << DroppedMantissaBits);
        if (lowBits >= 0x7C00)
            return double.PositiveInfinity;
        var lo = (double)BitConverter.UInt16BitsToHalf(lowBits);
        // The bucket's upper edge is the next bucket's first pattern (fp16 patterns are monotonic in value).
        var hi = (double)BitConverter.UInt16BitsToHalf((ushort)((bucket + 1) << DroppedMantissaBits));
        return lo == 0 ? 0.5 * hi : 0.5 * (lo + hi);
    }

    // ---- serialization: sparse JSON (bucket index → count per bin) ----

    private sealed record Dto(
        [property: JsonPropertyName("kind")] string Kind,
        [property: JsonPropertyName("bins")] int Bins,
        [property: JsonPropertyName("dropped_mantissa_bits")] int DroppedMantissaBits,
        [property: JsonPropertyName("relative_error_bound")] double RelativeErrorBound,
        [property: JsonPropertyName("nan")] long[] Nan,
        [property: JsonPropertyName("counts")] Dictionary<string, long>[] Counts);

    private const string Kind = "fp16-log-histogram";

    public string ToJson()
    {
        var counts = new Dictionary<string, long>[Bins];
        for (var k = 0; k < Bins; k++)
        {
            counts[k] = [];
            for (var b = 0; b < BucketsPerBin; b++)
            {
                var c = _counts[k * BucketsPerBin + b];
                if (c != 0)
                    counts[k][b.ToString(System.Globalization.CultureInfo.InvariantCulture)] = c;
            }
        }
        return JsonSerializer.Serialize(new Dto(Kind, Bins, DroppedMantissaBits, RelativeErrorBound, (long[])_nan.Clone(), counts));
    }

    public static PercentileSketch FromJson(string json)
    {
        var dto = JsonSerializer.Deserialize<Dto>(json) ?? throw new FormatException("empty sketch JSON");
        if (dto.Kind != Kind || dto.DroppedMantissaBits != DroppedMantissaBits)
            throw new FormatException($"not a {Kind} sketch with {DroppedMantissaBits} dropped mantissa bits (got {dto.Kind}, {dto.DroppedMantissaBits})");
        if (dto.Bins <= 0 || dto.Counts is null || dto.Counts.Length != dto.Bins || dto.Nan is null || dto.Nan.Length != dto.Bins)
            throw new FormatException("sketch JSON has inconsistent bin counts");
        var s = new PercentileSketch(dto.Bins);
        for (var k = 0; k < dto.Bins; k++)
        {
            s._nan[k] = dto.Nan[k];
            foreach (var (key, c) in dto.Counts[k])
            {
                if (!int.TryParse(key, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var b) || b >= BucketsPerBin || c < 0)
                    throw new FormatException($"bad sketch bucket '{key}': {c}");
                s._counts[k * BucketsPerBin + b] = c;
            }
        }
        return s;
    }
}
