using GidCluster.Grains.Work;
using GidCluster.Silo.Hosting;
using GidCluster.TestSupport;

namespace GidCluster.Cluster.Tests;

/// <summary>
/// <c>gid … --cluster azure?…</c>: the client finds the gateways in the Azure membership table the silos write (a real
/// Azurite, a real silo process), instead of being told one address; a cluster id with no silos is a one-line error.
/// </summary>
public sealed class AzureClientTests : IDisposable
{
    private const string Variable = "GID_CLIENT_STORAGE";
    private readonly AzuriteServer _azurite = new();

    public void Dispose() => _azurite.Dispose();

    [Fact]
    public async Task The_client_finds_the_gateway_in_the_membership_table()
    {
        using var dir = Paths.NewTempDir("gid-azure-client");
        var id = $"client{Guid.NewGuid():N}"[..14];
        using var silo = new SiloProcess("all", [
            "--role", SiloRoles.All, "--store", $"azure?connection-env={Variable}", "--blob", $"file:{dir.Path}/blobs", "--urls", "http://127.0.0.1:0",
            "--allow", dir.Path, "--silo-port", $"{FreePorts.Next()}", "--gateway-port", $"{FreePorts.Next()}", "--cluster-id", id, "--service-id", id,
        ], DrillTests.Token, environment: new Dictionary<string, string> { [Variable] = _azurite.ConnectionString });
        await silo.ListeningAsync(TimeSpan.FromSeconds(180));

        ProgramResult Gid(string cluster, params string[] args) => Programs.Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "gid.dll"), .. args, "--cluster", $"azure?connection-env={Variable}"],
            TimeSpan.FromMinutes(2), environment: new Dictionary<string, string?>
            {
                [Variable] = _azurite.ConnectionString,
                [KubernetesPod.ClusterIdVariable] = cluster,
                [KubernetesPod.ServiceIdVariable] = id,
                ["GID_DATA"] = dir.Path,
                ["GID_CLUSTER"] = null,
            });

        var runs = Gid(id, "runs");
        Assert.True(runs.ExitCode == 0, runs.Combined);
        // A grain call answered through the gateway the table listed.
        var status = Gid(id, "ingest", "status", "ing-nope");
        Assert.Equal(2, status.ExitCode);
        Assert.Contains("no ingestion job 'ing-nope'", status.Stderr);

        var elsewhere = Gid("nobody-here", "runs");
        Assert.Equal(2, elsewhere.ExitCode);
        Assert.Contains("cannot reach a gateway of cluster 'nobody-here'", elsewhere.Stderr);
        Assert.DoesNotContain(_azurite.Key, elsewhere.Combined);
        Assert.DoesNotContain("   at ", elsewhere.Stderr);
    }
}
