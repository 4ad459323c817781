using System.Globalization;
using GidCluster.Contracts;
using GidCluster.TestSupport;
using Xunit.Abstractions;

namespace GidCluster.Cluster.Tests;

/// <summary>The Prometheus text carries Orleans' own meters (the Microsoft.Orleans meter) next to ours, and they move with grain calls.</summary>
public sealed class MetricsTests(ITestOutputHelper output)
{
    private static Dictionary<string, double> Totals(string text, string prefix) =>
        text.Split('\n').Where(l => l.StartsWith(prefix, StringComparison.Ordinal))
            .Select(l => (Name: l[..l.IndexOfAny(['{', ' '])], Value: double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture)))
            .GroupBy(s => s.Name).ToDictionary(g => g.Key, g => g.Sum(s => s.Value));

    [Fact]
    public async Task Prometheus_text_includes_Orleans_meters_that_count_grain_calls()
    {
        using var dir = Paths.NewTempDir("gid-metrics");
        await using var silo = await InProcessSilo.StartAsync($"sqlite:{dir.Path}/c.db", $"file:{dir.Path}/blobs", [dir.Path]);
        async Task<string> Scrape()
        {
            using var response = await silo.Http.SendAsync(silo.Request(HttpMethod.Get, "api/prometheus"));
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, text);
            return text;
        }

        var before = Totals(await Scrape(), "orleans_");
        for (var i = 0; i < 200; i++)
            await silo.Grains.GetGrain<IIngestionJobGrain>($"ing-metrics-{i % 20}").GetView(false);
        var text = await Scrape();
        var after = Totals(text, "orleans_");
        output.WriteLine(string.Join('\n', after.Select(p => $"{p.Key} {p.Value}")));

        Assert.Contains("# TYPE gid_silo_up gauge", text); // ours still first
        Assert.True(after.Count >= 5, $"only {after.Count} Orleans families");
        foreach (var name in after.Keys)
            Assert.Contains($"# TYPE {name} ", text);
        // Grain calls and activations show in Orleans' own counters.
        var moved = after.Where(p => p.Value > before.GetValueOrDefault(p.Key)).Select(p => p.Key).ToList();
        Assert.Contains(moved, n => n.Contains("activation", StringComparison.Ordinal));
        Assert.Contains(moved, n => n.Contains("messag", StringComparison.Ordinal) || n.Contains("request", StringComparison.Ordinal));
    }
}
