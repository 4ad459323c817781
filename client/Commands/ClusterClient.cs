using System.CommandLine;
using System.Net;
using System.Text.Json;
using GidCluster.Grains.Blobs;
using GidCluster.Grains.Storage;
using GidCluster.Silo.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace GidCluster.Client.Commands;

/// <summary>
/// An Orleans client of a cluster, through its gateways. Which cluster: <c>--cluster</c> (an endpoint
/// file, the gateway as IP:PORT, or <c>azure[?…]</c>: the gateways the Azure membership table lists), else
/// <c>GID_CLUSTER</c>, else the endpoint file <c>gid up</c> wrote (<c>~/.gid/endpoint.json</c>).
/// </summary>
public sealed class ClusterClient : IAsyncDisposable
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly IHost _host;

    private ClusterClient(IHost host, EndpointFile endpoint)
    {
        _host = host;
        Endpoint = endpoint;
    }

    public EndpointFile Endpoint { get; }

    public IClusterClient Orleans => _host.Services.GetRequiredService<IClusterClient>();

    public IGrainFactory Grains => Orleans;

    public static Option<string?> ClusterOption() =>
        new("--cluster")
        {
            Description = "The cluster: an endpoint file, its gateway as IP:PORT, or azure[?connection-env=VAR|account=NAME|endpoint=URL] to use the gateways "
                + $"its Azure membership table lists (ids from ${KubernetesPod.ClusterIdVariable} and ${KubernetesPod.ServiceIdVariable}, default gid). "
                + "Default: $GID_CLUSTER, else the cluster `gid up` started.",
        };

    /// <summary>Adds --cluster to a command.</summary>
    public static Option<string?> AddConnectionOption(Command command)
    {
        var option = ClusterOption();
        command.Options.Add(option);
        return option;
    }

    /// <summary>Which cluster the command names, as an endpoint (a bare gateway gets the default cluster and service ids).</summary>
    public static EndpointFile Resolve(string? cluster)
    {
        cluster ??= Environment.GetEnvironmentVariable("GID_CLUSTER");
        if (cluster == null)
            return EndpointFile.Read(EndpointFile.DefaultPath)
                ?? throw new ClusterClientException($"no cluster selected: pass --cluster (an endpoint file or IP:PORT), set GID_CLUSTER, or start one with `gid up` (it writes {EndpointFile.DefaultPath})");
        if (IPEndPoint.TryParse(cluster, out var gateway) && gateway.Port > 0)
            return new EndpointFile(null, null, gateway.ToString(), "gid", "gid", null);
        if (AzureTableStore.IsAzure(cluster))
            return new EndpointFile(null, null, cluster, Id(KubernetesPod.ClusterIdVariable), Id(KubernetesPod.ServiceIdVariable), null);
        return File.Exists(cluster) ? EndpointFile.Read(cluster)!
            : throw new ClusterClientException($"--cluster '{cluster}' is neither an endpoint file, a gateway IP:PORT nor azure[?…]");
    }

    private static string Id(string variable) => Environment.GetEnvironmentVariable(variable) is { Length: > 0 } id ? id : "gid";

    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(30);

    /// <param name="tls">Mutual TLS to the gateway; default: from <c>GID_TLS_CERT</c>, <c>GID_TLS_KEY</c>, <c>GID_TLS_CA</c> if set.</param>
    public static async Task<ClusterClient> ConnectAsync(string? cluster, CancellationToken cancel, ClusterTls? tls = null, TimeSpan? timeout = null)
    {
        var endpoint = Resolve(cluster);
        try
        {
            tls ??= ClusterTls.FromEnvironment();
        }
        catch (ArgumentException e)
        {
            throw new ClusterClientException(e.Message);
        }
        // Gateways: the one named, or every one the cluster's Azure membership table lists (kept current by Orleans).
        AzureTableStore? table = null;
        IPEndPoint? gateway = null;
        if (AzureTableStore.IsAzure(endpoint.Gateway))
        {
            try
            {
                table = AzureTableStore.FromUri(endpoint.Gateway);
            }
            catch (ArgumentException e)
            {
                throw new ClusterClientException($"--cluster {endpoint.Gateway}: {e.Message}");
            }
        }
        else if (!IPEndPoint.TryParse(endpoint.Gateway, out gateway))
        {
            throw new ClusterClientException($"the cluster's gateway '{endpoint.Gateway}' is not IP:PORT");
        }
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.UseOrleansClient(client =>
        {
            if (table != null)
                client.UseAzureStorageClustering(o => o.TableServiceClient = table.Client);
            else
                client.UseStaticClustering(gateway!);
            client.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (endpoint.ClusterId, endpoint.ServiceId));
            if (tls != null)
                client.UseTls(tls.Configure);
        });
        var host = builder.Build();
        // Orleans' client keeps trying an unreachable gateway; a command should rather say so.
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        limit.CancelAfter(timeout ?? ConnectTimeout);
        try
        {
            await host.StartAsync(limit.Token);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancel.IsCancellationRequested)
        {
            host.Dispose();
            var where = table != null ? $"a gateway of cluster '{endpoint.ClusterId}' (service '{endpoint.ServiceId}') in the membership table of {table.Description}"
                : $"the cluster's gateway at {gateway}";
            throw new ClusterClientException($"cannot reach {where} ({e.GetType().Name}): is the cluster running (`gid up`)? Pass --cluster to name another{(tls == null ? "; a gateway off loopback needs TLS: set GID_TLS_CERT, GID_TLS_KEY and GID_TLS_CA" : "; is your certificate issued by the cluster's CA?")}.");
        }
        return new ClusterClient(host, endpoint);
    }

    /// <summary>The cluster's blob store, read directly (checkpoint pulls): <c>--blob</c>, else <c>GID_BLOB</c>, else the one the endpoint file names.</summary>
    public IBlobStore OpenBlobs(string? blob)
    {
        var uri = blob ?? Environment.GetEnvironmentVariable("GID_BLOB") ?? Endpoint.Blob
            ?? throw new ClusterClientException("no blob store known for this cluster: pass --blob URI or set GID_BLOB");
        return BlobStoreUri.Open(uri);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _host.StopAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The gateway went away first: nothing left to close politely.
        }
        _host.Dispose();
    }
}

public sealed class ClusterClientException(string message) : Exception(message);

/// <summary>
/// Where <c>gid up</c> records how to reach it, for the other commands on this machine (readable by
/// the owner only): the HTTP URL and token (dashboard, API), the gateway and ids (Orleans clients),
/// and the blob store (checkpoint pulls).
/// </summary>
public sealed record EndpointFile(string? Url, string? Token, string Gateway, string ClusterId, string ServiceId, string? Blob)
{
    public static string DataDir() =>
        Environment.GetEnvironmentVariable("GID_DATA") is { Length: > 0 } d ? d : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".gid");

    public static string DefaultPath => Path.Combine(DataDir(), "endpoint.json");

    public static EndpointFile? Read(string path)
    {
        if (!File.Exists(path))
            return null;
        try
        {
            return JsonSerializer.Deserialize<EndpointFile>(File.ReadAllText(path), ClusterClient.Json)
                ?? throw new JsonException("empty");
        }
        catch (JsonException e)
        {
            throw new ClusterClientException($"endpoint file {path} is not one `gid up` wrote ({e.Message.Split(" Path:")[0]})");
        }
    }

    public void Write()
    {
        Directory.CreateDirectory(DataDir());
        File.WriteAllText(DefaultPath, "");
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(DefaultPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.WriteAllText(DefaultPath, JsonSerializer.Serialize(this, ClusterClient.Json));
    }

    public static void Delete() => File.Delete(DefaultPath);
}
