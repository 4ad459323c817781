using System.Net;
using GidCluster.Grains;
using GidCluster.Grains.Blobs;
using GidCluster.Grains.Ingestion;
using GidCluster.Grains.Sqlite;
using GidCluster.Grains.Storage;
using GidCluster.Grains.Work;

namespace GidCluster.Silo.Hosting;

/// <summary>Silo roles: the coordinator hosts jobs and catalogs, the gateway, the HTTP API and dashboards; workers host video and dataset grains and run their work; <c>all</c> is both.</summary>
public static class SiloRoles
{
    public const string Coordinator = "coordinator";
    public const string Worker = "worker";
    public const string All = "all";

    public static readonly string[] Known = [Coordinator, Worker, All];
}

/// <summary>
/// The pod a silo runs in, from the downward API variables Orleans' Kubernetes hosting reads. Orleans 10.4.2 takes the
/// advertised address from DNS rather than POD_IP, so the silo advertises <see cref="Address"/> itself.
/// </summary>
public sealed record KubernetesPod(string Name, string Namespace, IPAddress Address, string? ClusterId, string? ServiceId)
{
    public const string NameVariable = "POD_NAME";
    public const string NamespaceVariable = "POD_NAMESPACE";
    public const string AddressVariable = "POD_IP";

    /// <summary>Orleans' Kubernetes hosting overrides the cluster and service ids with these; the silo's defaults follow them so both agree.</summary>
    public const string ClusterIdVariable = "ORLEANS_CLUSTER_ID";
    public const string ServiceIdVariable = "ORLEANS_SERVICE_ID";

    /// <summary>Null outside a pod (neither POD_NAME nor POD_NAMESPACE set); throws naming the variable when only part of the pod's variables are set.</summary>
    public static KubernetesPod? FromEnvironment(Func<string, string?> environment)
    {
        string? Value(string name) => string.IsNullOrWhiteSpace(environment(name)) ? null : environment(name)!.Trim();
        var (name, ns, ip) = (Value(NameVariable), Value(NamespaceVariable), Value(AddressVariable));
        if (name == null && ns == null)
            return null;
        if (name == null || ns == null)
            throw new ArgumentException($"{(name == null ? NamespaceVariable : NameVariable)} is set but {(name == null ? NameVariable : NamespaceVariable)} is not: in a Kubernetes pod set {NameVariable}, {NamespaceVariable} and {AddressVariable} from the downward API (metadata.name, metadata.namespace, status.podIP)");
        if (ip == null)
            throw new ArgumentException($"{AddressVariable} is not set: in a Kubernetes pod set it from the downward API (status.podIP); the silo advertises it to the cluster");
        if (!IPAddress.TryParse(ip, out var address))
            throw new ArgumentException($"{AddressVariable} must be an IP address, not '{ip}'");
        return new KubernetesPod(name, ns, address, Value(ClusterIdVariable), Value(ServiceIdVariable));
    }
}

/// <summary>Everything a silo is configured with. Secrets (the token) are never logged.</summary>
public sealed record SiloOptions
{
    public required string Role { get; init; }

    /// <summary>Membership, grain state and reminders: <see cref="StoreHelp"/>.</summary>
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

    /// <summary>Orleans silo-to-silo port.</summary>
    public int SiloPort { get; init; } = 11111;

    /// <summary>Orleans gateway port clients connect to (coordinator roles; 0 = no gateway).</summary>
    public int GatewayPort { get; init; } = 30000;

    /// <summary>Address the silo and gateway listen on and advertise: loopback unless configured.</summary>
    public IPAddress Address { get; init; } = IPAddress.Loopback;

    /// <summary>Mutual TLS on the silo and gateway ports (required off loopback); null: plain TCP on loopback.</summary>
    public ClusterTls? Tls { get; init; }

    /// <summary>The primary silo's endpoint for localhost (development) clustering; null: this silo is the primary.</summary>
    public IPEndPoint? Primary { get; init; }

    /// <summary>Orleans cluster id: silos and clients of one cluster share it.</summary>
    public string ClusterId { get; init; } = "gid";

    /// <summary>Orleans service id: grain state and reminders are keyed by it.</summary>
    public string ServiceId { get; init; } = "gid";

    /// <summary>Set when the silo runs in a Kubernetes pod (POD_NAME and POD_NAMESPACE from the downward API): Orleans' Kubernetes hosting is on.</summary>
    public KubernetesPod? Pod { get; init; }

    /// <summary>Work slots (videos run at once) on a worker; default one per core.</summary>
    public int Slots { get; init; } = WorkSlots.DefaultSlots;

    /// <summary>Videos a job keeps started at once.</summary>
    public int MaxInFlight { get; init; } = 64;

    /// <summary>How often a job checks its videos in flight.</summary>
    public TimeSpan Check { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Period of the reminders that re-drive unfinished work after a crash.</summary>
    public TimeSpan Reminder { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>On SIGTERM, how long running work gets to finish before the silo stops (Kubernetes' default grace period is 30 s; the manifests give 60).</summary>
    public TimeSpan Drain { get; init; } = TimeSpan.FromSeconds(40);

    /// <summary>The pipeline of jobs that name none: dataprep, the ingestion the dataset is made of.</summary>
    public string DefaultPipeline { get; init; } = GidCluster.Silo.Ingestion.DataprepPipeline.Name;

    public static readonly string StoreHelp = $"{SqliteFile.UriHelp} with localhost clustering (one machine), or {AzureTableStore.UriHelp} (Orleans' Azure Table Storage clustering, grain state and reminders)";

    public bool IsAzure => AzureTableStore.IsAzure(Store);

    public bool IsCoordinator => Role is SiloRoles.Coordinator or SiloRoles.All;

    public bool IsWorker => Role is SiloRoles.Worker or SiloRoles.All;

    public GrainSettings Grains => new(DefaultPipeline, MaxInFlight, Check, Reminder);

    /// <summary>Checks the options; throws <see cref="ArgumentException"/> naming the option.</summary>
    public SiloOptions Validate()
    {
        if (!SiloRoles.Known.Contains(Role))
            throw new ArgumentException($"--role must be one of {string.Join(", ", SiloRoles.Known)}, not '{Role}'");
        if (IsCoordinator && string.IsNullOrEmpty(Token))
            throw new ArgumentException("a coordinator needs an API token: set GID_TOKEN or pass --token-file FILE");
        if (IsCoordinator && Token!.Length < 16)
            throw new ArgumentException("the API token must be at least 16 characters");
        if (Slots is < 1 or > 64)
            throw new ArgumentException("--slots must be between 1 and 64");
        if (Drain > TimeSpan.FromHours(1))
            throw new ArgumentException("--drain-seconds must be at most 3600");
        if (MaxInFlight is < 1 or > 100_000)
            throw new ArgumentException("--max-in-flight must be between 1 and 100000");
        if (IsAzure)
            _ = AzureTableStore.FromUri(Store); // a missing or malformed connection variable fails here, naming the variable
        else if (!Store.StartsWith("sqlite:", StringComparison.Ordinal))
            throw new ArgumentException($"--store must be {StoreHelp}");
        if (Pod != null && !IsAzure)
            throw new ArgumentException($"in a Kubernetes pod (POD_NAME {Pod.Name}) the silo needs --store azure: silos in pods find each other in the Azure membership table, not by localhost clustering");
        if (IsAzure && Primary != null)
            throw new ArgumentException("--primary is for sqlite stores (localhost clustering); with --store azure silos find each other in the membership table");
        // Grain calls carry no credentials of their own: off loopback, the certificate is what lets a peer in.
        if (!IPAddress.IsLoopback(Address) && Tls is null)
            throw new ArgumentException($"--address {Address} is not a loopback address: a gateway reachable from other machines needs TLS with client certificates; pass --tls-cert, --tls-key and --tls-ca (or set {ClusterTls.CertVariable}, {ClusterTls.KeyVariable}, {ClusterTls.CaVariable}), or bind to 127.0.0.1");
        GidCluster.Silo.Ingestion.SiloPipelines.Register(); // before the name check, so --pipeline dataprep is known
        if (!IngestionPipelines.TryCreate(DefaultPipeline, out _))
            throw new ArgumentException($"--pipeline '{DefaultPipeline}' is unknown (known: {string.Join(", ", IngestionPipelines.Names)})");
        return this;
    }

    /// <summary>
    /// Parses the silo's command line: <c>--role R --store sqlite:PATH|azure[?…] --blob URI [--urls U] [--token-file F] [--allow DIR]...
    /// [--silo-port N] [--gateway-port N] [--primary HOST:PORT] [--address IP] [--tls-cert PEM --tls-key PEM --tls-ca PEM] [--cluster-id ID] [--service-id ID] [--slots N] [--max-in-flight N]
    /// [--check-seconds N] [--reminder-seconds N] [--id ID] [--pipeline NAME]</c>.
    /// </summary>
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
        double Number(string key, double fallback, double min = double.Epsilon)
        {
            var s = One(key);
            if (s == null)
                return fallback;
            return double.TryParse(s, System.Globalization.CultureInfo.InvariantCulture, out var d) && d >= min
                ? d : throw new ArgumentException($"--{key} must be a number of at least {min}, not '{s}'");
        }
        var tokenFile = One("token-file");
        var token = tokenFile != null ? File.ReadAllText(tokenFile).Trim() : environment("GID_TOKEN");
        var defaults = new SiloOptions { Role = "", Store = "", Blob = "" };
        var primary = One("primary");
        var (tlsCert, tlsKey, tlsCa) = (One("tls-cert"), One("tls-key"), One("tls-ca"));
        var address = One("address");
        var pod = KubernetesPod.FromEnvironment(environment);
        var options = new SiloOptions
        {
            Role = One("role") ?? SiloRoles.All,
            Store = One("store") ?? environment("GID_STORE") ?? throw new ArgumentException("--store is required (or GID_STORE)"),
            Blob = One("blob") ?? environment("GID_BLOB") ?? throw new ArgumentException("--blob is required (or GID_BLOB)"),
            Urls = One("urls") ?? defaults.Urls,
            Token = token,
            AllowedRoots = values.Remove("allow", out var roots) ? roots : [],
            Id = One("id") ?? pod?.Name ?? defaults.Id,
            SiloPort = (int)Number("silo-port", defaults.SiloPort, 1),
            GatewayPort = (int)Number("gateway-port", defaults.GatewayPort, 0),
            Primary = primary == null ? null : IPEndPoint.TryParse(primary, out var p) && p.Port > 0 ? p
                : throw new ArgumentException($"--primary must be IP:PORT, not '{primary}'"),
            Address = address == null ? pod?.Address ?? defaults.Address : IPAddress.TryParse(address, out var a) ? a
                : throw new ArgumentException($"--address must be an IP address, not '{address}'"),
            ClusterId = One("cluster-id") ?? pod?.ClusterId ?? defaults.ClusterId,
            ServiceId = One("service-id") ?? pod?.ServiceId ?? defaults.ServiceId,
            Pod = pod,
            Slots = (int)Number("slots", defaults.Slots, 1),
            MaxInFlight = (int)Number("max-in-flight", defaults.MaxInFlight, 1),
            Check = TimeSpan.FromSeconds(Number("check-seconds", defaults.Check.TotalSeconds)),
            Reminder = TimeSpan.FromSeconds(Number("reminder-seconds", defaults.Reminder.TotalSeconds)),
            Drain = TimeSpan.FromSeconds(Number("drain-seconds", defaults.Drain.TotalSeconds, 0)),
            DefaultPipeline = One("pipeline") ?? defaults.DefaultPipeline,
            Tls = tlsCert is null && tlsKey is null && tlsCa is null ? ClusterTls.FromEnvironment(environment) : ClusterTls.Load(tlsCert, tlsKey, tlsCa),
        };
        if (values.Count > 0)
            throw new ArgumentException($"unknown option --{values.Keys.First()}");
        return options.Validate();
    }
}
