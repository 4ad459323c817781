using System.Text.Json;
using GidCluster.Grains.Store;

namespace GidCluster.Silo.Dashboard;

/// <summary>
/// The dataset's average motion spectrum (paper Fig. 2 left): mean power per frequency bin of the
/// x and y displacements. A job carries it in its result JSON as
/// <c>{"spectrum": {"powerX": [..K], "powerY": [..K], "frequenciesHz": [..K] (optional)}}</c>;
/// the dashboard only reads and plots it.
/// </summary>
public sealed record DashboardSpectrum(string Job, IReadOnlyList<double> PowerX, IReadOnlyList<double> PowerY, IReadOnlyList<double>? FrequenciesHz)
{
    public const int MaxBins = 4096;

    /// <summary>The job's spectrum, or null when its result has none (or a malformed one: never plotted half-read).</summary>
    public static DashboardSpectrum? TryRead(JobRecord job)
    {
        if (string.IsNullOrEmpty(job.Result))
            return null;
        try
        {
            using var doc = JsonDocument.Parse(job.Result);
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("spectrum", out var s) || s.ValueKind != JsonValueKind.Object)
                return null;
            var x = Numbers(s, "powerX");
            var y = Numbers(s, "powerY");
            var f = s.TryGetProperty("frequenciesHz", out _) ? Numbers(s, "frequenciesHz") : null;
            if (x == null || y == null || x.Count == 0 || x.Count != y.Count || (f != null && f.Count != x.Count))
                return null;
            return new DashboardSpectrum(job.Id, x, y, f);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static List<double>? Numbers(JsonElement parent, string name)
    {
        if (!parent.TryGetProperty(name, out var a) || a.ValueKind != JsonValueKind.Array || a.GetArrayLength() > MaxBins)
            return null;
        var values = new List<double>();
        foreach (var v in a.EnumerateArray())
        {
            if (v.ValueKind != JsonValueKind.Number || !double.IsFinite(v.GetDouble()) || v.GetDouble() < 0)
                return null;
            values.Add(v.GetDouble());
        }
        return values;
    }
}
