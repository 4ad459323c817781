using System.CommandLine;
using GidCluster.Grains.Blobs;
using GidCluster.Grains.Ingestion;
using GidCluster.Grains.Store;
using GidCluster.Silo.Hosting;
using Microsoft.Extensions.Hosting;

namespace GidCluster.Client.Commands;

/// <summary><c>gid silo</c>: one silo of a cluster, in this process (the same host as the GidCluster.Silo program).</summary>
public static class SiloCommand
{
    public static Command Create()
    {
        var role = new Option<string>("--role") { Description = "coordinator (HTTP API + scheduler), worker (runs grains), or all.", DefaultValueFactory = _ => SiloRoles.All };
        role.AcceptOnlyFromAmong(SiloRoles.Known);
        var store = new Option<string?>("--store") { Description = $"Store URI (or $GID_STORE): {StoreUri.Help}." };
        var blob = new Option<string?>("--blob") { Description = $"Blob store URI (or $GID_BLOB): {BlobStoreUri.Help}." };
        var urls = new Option<string>("--urls") { Description = "Where the HTTP API listens (port 0: a free port).", DefaultValueFactory = _ => "http://127.0.0.1:8480" };
        var tokenFile = new Option<string?>("--token-file") { Description = "File holding the API token (default: $GID_TOKEN). Required for coordinator roles." };
        var allow = new Option<string[]>("--allow") { Description = "Directories submitted videos may come from (repeatable).", AllowMultipleArgumentsPerToken = true };
        var lease = new Option<double>("--lease-seconds") { Description = "Lease length; heartbeats every third of it.", DefaultValueFactory = _ => 30 };
        var slots = new Option<int>("--slots") { Description = "Grains a worker runs at once.", DefaultValueFactory = _ => 1 };
        var drain = new Option<double>("--drain-seconds") { Description = "On SIGTERM, how long work in progress may finish before its lease is released.", DefaultValueFactory = _ => 20 };
        var id = new Option<string?>("--id") { Description = "Silo id in membership and leases (default: host-pid)." };
        GidCluster.Silo.Ingestion.DataprepPipeline.Register(); // so the help lists it
        var pipeline = new Option<string>("--pipeline") { Description = $"Default ingestion pipeline ({string.Join(", ", IngestionPipelines.Names)}).", DefaultValueFactory = _ => GidCluster.Silo.Ingestion.DataprepPipeline.Name };
        var command = new Command("silo", $"""
            Run one silo of a cluster.
              Store URIs: sqlite:PATH (one machine; every silo on it may share the file)
                          postgres://USER:PASSWORD@HOST:PORT/DATABASE, or an Npgsql connection string
                          (Host=...;Port=...;Username=...;Password=...;Database=...)
              Blob URIs:  file:DIR (a local or shared directory); azure: comes with the Azure client
              Passwords in the store URI and the token are never logged or returned by the API.
            """)
        {
            role, store, blob, urls, tokenFile, allow, lease, slots, drain, id, pipeline,
        };
        command.SetAction(async (parse, cancel) =>
        {
            var args = new List<string> { "--role", parse.GetValue(role)!, "--urls", parse.GetValue(urls)!,
                "--lease-seconds", parse.GetValue(lease).ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--drain-seconds", parse.GetValue(drain).ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--slots", parse.GetValue(slots).ToString(System.Globalization.CultureInfo.InvariantCulture), "--pipeline", parse.GetValue(pipeline)! };
            void Add(string name, string? value)
            {
                if (value != null)
                    args.AddRange([name, value]);
            }
            Add("--store", parse.GetValue(store));
            Add("--blob", parse.GetValue(blob));
            Add("--token-file", parse.GetValue(tokenFile));
            Add("--id", parse.GetValue(id));
            foreach (var dir in parse.GetValue(allow) ?? [])
                Add("--allow", Path.GetFullPath(dir));
            SiloOptions options;
            try
            {
                options = SiloOptions.Parse([.. args]);
            }
            catch (Exception e) when (e is ArgumentException or IOException)
            {
                Console.Error.WriteLine($"gid silo: {e.Message}");
                return 2;
            }
            var app = SiloHost.Build(options);
            await SiloHost.StartAsync(app, cancel);
            Console.WriteLine($"silo {options.Id} ({options.Role}) listening on {SiloHost.Address(app)}");
            await app.WaitForShutdownAsync(CancellationToken.None);
            return 0;
        });
        return command;
    }
}
