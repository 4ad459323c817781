using System.Text.Json;
using System.Text.Json.Serialization;
using GidCluster.Dataprep.Pipeline;
using GidCluster.Dataprep.Samples;

namespace GidCluster.Dataprep.Statistics;

/// <summary>
/// Average power spectrum of the motion per frequency bin, separately for x and y (the paper's
/// Fig. 2 left): mean over samples and pixels of |S_k|² = Re² + Im², from the stored fp16
/// volumes <c>[K, 4, H, W]</c>. Mergeable (sums and counts).
/// </summary>
public sealed class PowerSpectrum : ISampleSink
{
    public PowerSpectrum(int bins = 16, double fps = 30, int n = 149)
    {
        Bins = bins;
        Fps = fps;
        N = n;
        SumX = new double[bins];
        SumY = new double[bins];
    }

    [JsonPropertyName("bins")] public int Bins { get; init; }
    [JsonPropertyName("fps")] public double Fps { get; init; }
    [JsonPropertyName("n")] public int N { get; init; }
    [JsonPropertyName("samples")] public long Samples { get; set; }
    [JsonPropertyName("pixels")] public long Pixels { get; set; }
    [JsonPropertyName("sum_power_x")] public double[] SumX { get; init; }
    [JsonPropertyName("sum_power_y")] public double[] SumY { get; init; }

    /// <summary>Frequency of bin k in Hz: k·fps/N.</summary>
    public double FrequencyHz(int k) => k * Fps / N;

    public double MeanX(int k) => Pixels > 0 ? SumX[k] / Pixels : 0;
    public double MeanY(int k) => Pixels > 0 ? SumY[k] / Pixels : 0;

    public void Write(Sample sample) => Add(sample.SpectralVolume, sample.Width * sample.Height);

    public void Add(ReadOnlySpan<Half> volume, int plane)
    {
        if (volume.Length != Bins * 4 * plane)
            throw new ArgumentException($"volume has {volume.Length} values, expected {Bins}x4x{plane}");
        for (var k = 0; k < Bins; k++)
        {
            var b = k * 4 * plane;
            double sx = 0, sy = 0;
            for (var p = 0; p < plane; p++)
            {
                double rx = (double)volume[b + p], ix = (double)volume[b + plane + p];
                double ry = (double)volume[b + 2 * plane + p], iy = (double)volume[b + 3 * plane + p];
                sx += rx * rx + ix * ix;
                sy += ry * ry + iy * iy;
            }
            SumX[k] += sx;
            SumY[k] += sy;
        }
        Samples++;
        Pixels += plane;
    }

    public void Merge(PowerSpectrum other)
    {
        if (other.Bins != Bins)
            throw new ArgumentException("spectra differ in bins");
        for (var k = 0; k < Bins; k++)
        {
            SumX[k] += other.SumX[k];
            SumY[k] += other.SumY[k];
        }
        Samples += other.Samples;
        Pixels += other.Pixels;
    }

    public string ToJson() => JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true });

    public static PowerSpectrum FromJson(string json)
    {
        var s = JsonSerializer.Deserialize<PowerSpectrum>(json) ?? throw new FormatException("empty spectrum JSON");
        if (s.Bins <= 0 || s.SumX is null || s.SumY is null || s.SumX.Length != s.Bins || s.SumY.Length != s.Bins)
            throw new FormatException("spectrum JSON has inconsistent bins");
        return s;
    }
}
