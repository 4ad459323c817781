using GidCluster.Grains.Blobs;
using GidCluster.Grains.Ingestion;
using GidCluster.Grains.Store;

namespace GidCluster.Silo.Hosting;

/// <summary>Silo roles: the coordinator serves the API and schedules jobs; workers run grains; <c>all</c> is both.</summary>
public static class SiloRoles
{
    public const string Coordinator = "coordinator";
    public const string Worker = "worker";
    public const string All = "all";

    public static readonly string[] Known = [Coordinator, Worker, All];
}

/// <summary>Everything a silo is configured with. Secrets (token, store password) are never logged.</summary>
public sealed record SiloOptions
{
    public required string Role { get; init; }

    /// <summary>Store URI (<see cref="StoreUri.Help"/>).</summary>
    public required string Store { get; init; }

    /// <summary>Blob store URI (<see cref="BlobStoreUri.Help"/>).</summary>
    public required string Blob { get; init; }

    /// <summary>Where the HTTP API listens; port 0 picks a free port.</summary>
    public string Urls { get; init; } = "http://127.0.0.1:8480";

    /// <summary>The API token (required for coordinator roles).</summary>
    public string? Token { get; init; }

    /// <summary>Directories that submitted video paths must lie under.</summary>
    public IReadOnlyList<string> AllowedRoots { get; init; } = [];

    public string Id { get; init; } = $"{Environment.MachineName.ToLowerInvariant()}-{Environment.ProcessId}";

    public TimeSpan LeaseFor { get; init; } = TimeSpan.FromSeconds(30);

    public TimeSpan Poll { get; init; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan Drain { get; init; } = TimeSpan.FromSeconds(20);

    public TimeSpan Heartbeat { get; init; } = TimeSpan.FromSeconds(5);

    public int Slots { get; init; } = 1;

    /// <summary>The pipeline of jobs that name none: dataprep, the ingestion the dataset is made of.</summary>
    public string DefaultPipeline { get; init; } = GidCluster.Silo.Ingestion.DataprepPipeline.Name;

    public bool IsCoordinator => Role is SiloRoles.Coordinator or SiloRoles.All;

    public bool IsWorker => Role is SiloRoles.Worker or SiloRoles.All;

    /// <summary>Checks the options; throws <see cref="ArgumentException"/> naming the option.</summary>
    public SiloOptions Validate()
    {
        if (!SiloRoles.Known.Contains(Role))
            throw new ArgumentException($"--role must be one of {string.Join(", ", SiloRoles.Known)}, not '{Role}'");
        if (IsCoordinator && string.IsNullOrEmpty(Token))
            throw new ArgumentException("a coordinator needs an API token: set GID_TOKEN or pass --token-file FILE");
        if (IsCoordinator && Token!.Length < 16)
            throw new ArgumentException("the API token must be at least 16 characters");
        if (LeaseFor < TimeSpan.FromSeconds(1))
            throw new ArgumentException("--lease-seconds must be at least 1");
        if (Slots is < 1 or > 64)
            throw new ArgumentException("--slots must be between 1 and 64");
        GidCluster.Silo.Ingestion.DataprepPipeline.Register(); // before the name check, so --pipeline dataprep is known
        if (!IngestionPipelines.TryCreate(DefaultPipeline, out _))
            throw new ArgumentException($"--pipeline '{DefaultPipeline}' is unknown (known: {string.Join(", ", IngestionPipelines.Names)})");
        return this;
    }

    /// <summary>Parses the silo's command line: <c>--role R --store URI --blob URI [--urls U] [--token-file F] [--allow DIR]... [--lease-seconds N] [--poll-ms N] [--drain-seconds N] [--slots N] [--id ID] [--pipeline NAME]</c>.</summary>
    public static SiloOptions Parse(string[] args, Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        var values = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
                throw new ArgumentException($"expected '--option value', got '{args[i]}'");
            var key = args[i][2..];
            if (!values.TryGetValue(key, out var list))
                values[key] = list = [];
            list.Add(args[++i]);
        }
        string? One(string key) => values.Remove(key, out var v) ? v[^1] : null;
        double Number(string key, double fallback)
        {
            var s = One(key);
            if (s == null)
                return fallback;
            return double.TryParse(s, System.Globalization.CultureInfo.InvariantCulture, out var d) && d > 0
                ? d : throw new ArgumentException($"--{key} must be a positive number, not '{s}'");
        }
        var tokenFile = One("token-file");
        var token = tokenFile != null ? File.ReadAllText(tokenFile).Trim() : environment("GID_TOKEN");
        var defaults = new SiloOptions { Role = "", Store = "", Blob = "" };
        var options = new SiloOptions
        {
            Role = One("role") ?? SiloRoles.All,
            Store = One("store") ?? environment("GID_STORE") ?? throw new ArgumentException("--store is required (or GID_STORE)"),
            Blob = One("blob") ?? environment("GID_BLOB") ?? throw new ArgumentException("--blob is required (or GID_BLOB)"),
            Urls = One("urls") ?? defaults.Urls,
            Token = token,
            AllowedRoots = values.Remove("allow", out var roots) ? roots : [],
            Id = One("id") ?? defaults.Id,
            LeaseFor = TimeSpan.FromSeconds(Number("lease-seconds", defaults.LeaseFor.TotalSeconds)),
            Poll = TimeSpan.FromMilliseconds(Number("poll-ms", defaults.Poll.TotalMilliseconds)),
            Drain = TimeSpan.FromSeconds(Number("drain-seconds", defaults.Drain.TotalSeconds)),
            Heartbeat = TimeSpan.FromSeconds(Number("heartbeat-seconds", defaults.Heartbeat.TotalSeconds)),
            Slots = (int)Number("slots", defaults.Slots),
            DefaultPipeline = One("pipeline") ?? defaults.DefaultPipeline,
        };
        if (values.Count > 0)
            throw new ArgumentException($"unknown option --{values.Keys.First()}");
        return options.Validate();
    }
}
