using GidCluster.Contracts;
using GidCluster.Grains;
using Orleans.Runtime;

namespace GidCluster.Silo.Cluster;

/// <summary>One silo as the API and the dashboard show it: Orleans membership plus the silo's runtime statistics.</summary>
public sealed record ClusterSilo(SiloView View, int VideoGrains);

/// <summary>Reads the cluster's silos from Orleans (membership, grain manifests, runtime statistics): there is no membership of our own.</summary>
public static class ClusterSilos
{
    private static readonly string VideoType = GrainNames.VideoType;
    private static readonly string JobType = GrainNames.JobType;

    public static async Task<IReadOnlyList<ClusterSilo>> ListAsync(IGrainFactory grains, Orleans.Runtime.IClusterManifestProvider manifests)
    {
        var management = grains.GetGrain<IManagementGrain>(0);
        var hosts = await management.GetDetailedHosts(onlyActive: false);
        var active = hosts.Where(h => h.Status == SiloStatus.Active).Select(h => h.SiloAddress).ToArray();
        var stats = active.Length == 0 ? [] : await management.GetRuntimeStatistics(active);
        var byAddress = active.Zip(stats).ToDictionary(p => p.First, p => p.Second);
        var videos = (await management.GetSimpleGrainStatistics(active))
            .Where(g => g.GrainType.Contains(VideoType, StringComparison.Ordinal) || g.GrainType.EndsWith(".VideoGrain", StringComparison.Ordinal))
            .GroupBy(g => g.SiloAddress).ToDictionary(g => g.Key, g => g.Sum(x => x.ActivationCount));
        var manifest = manifests.Current;
        return hosts.OrderBy(h => h.SiloName, StringComparer.Ordinal).Select(h =>
        {
            var types = manifest.Silos.TryGetValue(h.SiloAddress, out var m) ? m.Grains.Keys.Select(k => k.ToString()).ToHashSet() : [];
            var role = (types.Contains(JobType), types.Contains(VideoType)) switch
            {
                (true, true) => "all",
                (true, false) => "coordinator",
                (false, true) => "worker",
                _ => "unknown",
            };
            byAddress.TryGetValue(h.SiloAddress, out var s);
            var view = new SiloView(h.SiloName, role, h.SiloAddress.ToParsableString(), h.Status.ToString().ToLowerInvariant(),
                new DateTimeOffset(DateTime.SpecifyKind(h.StartTime, DateTimeKind.Utc)), h.Status == SiloStatus.Active,
                s == null ? null : Math.Round(s.EnvironmentStatistics.FilteredCpuUsagePercentage, 1), s == null ? null : Math.Round(s.EnvironmentStatistics.FilteredMemoryUsageBytes / 1048576.0, 1), s?.ActivationCount ?? 0);
            return new ClusterSilo(view, videos.GetValueOrDefault(h.SiloAddress));
        }).ToList();
    }
}
