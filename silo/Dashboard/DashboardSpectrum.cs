using GidCluster.Contracts;

namespace GidCluster.Silo.Dashboard;

/// <summary>
/// The dataset's average motion spectrum (paper Fig. 2 left): mean power per frequency bin of the
/// x and y displacements. A job's merge result carries it; the dashboard only reads and plots it.
/// </summary>
public sealed record DashboardSpectrum(string Job, IReadOnlyList<double> PowerX, IReadOnlyList<double> PowerY, IReadOnlyList<double>? FrequenciesHz)
{
    public const int MaxBins = 4096;

    /// <summary>The job's spectrum, or null when it has none (or a malformed one: never plotted half-read).</summary>
    public static DashboardSpectrum? From(string job, JobSpectrum? s)
    {
        if (s == null || s.PowerX.Count == 0 || s.PowerX.Count != s.PowerY.Count || s.PowerX.Count > MaxBins
            || (s.FrequenciesHz.Count != 0 && s.FrequenciesHz.Count != s.PowerX.Count)
            || s.PowerX.Concat(s.PowerY).Any(v => !double.IsFinite(v) || v < 0))
            return null;
        return new DashboardSpectrum(job, s.PowerX, s.PowerY, s.FrequenciesHz.Count == 0 ? null : s.FrequenciesHz);
    }
}
