using GidCluster.TestSupport;

namespace GidCluster.Cluster.Tests;

/// <summary><c>gid up</c> as a user runs it, then <c>gid ingest</c> (an Orleans client) against it through the endpoint file it wrote.</summary>
[Collection(DrillCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ClientTests(DrillFixture fixture)
{
    [Fact]
    public async Task Gid_up_prints_url_and_token_serves_gid_ingest_and_stops_cleanly_on_sigterm()
    {
        using var data = Paths.NewTempDir("gid-up");
        var env = new Dictionary<string, string> { ["GID_DATA"] = data.Path };
        using var up = new SiloProcess("up", ["up", "--port", "0", "--gateway-port", "0", "--silo-port", "0", "--allow", fixture.Videos], program: "gid.dll", environment: env);
        var url = await up.ListeningAsync();
        Assert.StartsWith("http://127.0.0.1:", url);
        await Waits.UntilAsync(() => Task.FromResult(up.Output.Contains("  token:", StringComparison.Ordinal)), TimeSpan.FromSeconds(10), () => up.Output);
        var token = up.Output.Split('\n').Single(l => l.StartsWith("  token:", StringComparison.Ordinal))["  token:".Length..].Trim();
        Assert.True(token.Length >= 16);
        var endpoint = Path.Combine(data.Path, "endpoint.json");
        var gateway = up.Output.Split('\n').Single(l => l.StartsWith("  gateway:", StringComparison.Ordinal))["  gateway:".Length..].Trim();
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(endpoint));

        var gid = Path.Combine(AppContext.BaseDirectory, "gid.dll");
        var clientEnv = new Dictionary<string, string?> { ["GID_DATA"] = data.Path, ["GID_CLUSTER"] = null, ["GID_BLOB"] = null };
        var submit = Programs.Run("dotnet", [gid, "ingest", "submit", fixture.VideoPaths[0], fixture.VideoPaths[1], "--dataset", "up", "--pipeline", "frame-stats", "--wait"], TimeSpan.FromSeconds(120), environment: clientEnv);
        Assert.True(submit.ExitCode == 0, submit.Combined);
        Assert.Contains("succeeded; 2/2 videos done", submit.Stdout);
        Assert.Contains("manifest: datasets/up/manifest.json", submit.Stdout);
        var job = submit.Stdout.Split('\n').First(l => l.StartsWith("job ", StringComparison.Ordinal)).Split(' ', ':')[1];
        var status = Programs.Run("dotnet", [gid, "ingest", "status", job], TimeSpan.FromSeconds(60), environment: clientEnv);
        Assert.True(status.ExitCode == 0, status.Combined);
        Assert.Contains("succeeded", status.Stdout);
        Assert.True(File.Exists(Path.Combine(data.Path, "blobs", "datasets", "up", "manifest.json")));
        var missing = Programs.Run("dotnet", [gid, "ingest", "status", "ing-nope"], TimeSpan.FromSeconds(60), environment: clientEnv);
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("no ingestion job 'ing-nope'", missing.Stderr);

        Assert.Equal(0, up.Terminate(TimeSpan.FromSeconds(30)));
        Assert.False(File.Exists(endpoint));
        // With the cluster gone, the client says what to do.
        var down = Programs.Run("dotnet", [gid, "ingest", "status", job, "--cluster", gateway], TimeSpan.FromSeconds(60), environment: clientEnv);
        Assert.Equal(2, down.ExitCode);
        Assert.Contains("cannot reach the cluster's gateway", down.Stderr);
        Assert.Equal(1, up.Output.Split('\n').Count(l => l.Contains(token, StringComparison.Ordinal))); // shown once, to its user, never logged
    }
}
