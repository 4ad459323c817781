using System.CommandLine;
using GidCluster.Grains.Blobs;
using GidCluster.Grains.Ingestion;
using GidCluster.Silo.Hosting;
using Microsoft.Extensions.Hosting;

namespace GidCluster.Client.Commands;

/// <summary><c>gid silo</c>: one silo of a cluster, in this process (the same host as the GidCluster.Silo program, with its options).</summary>
public static class SiloCommand
{
    public static Command Create()
    {
        GidCluster.Silo.Ingestion.SiloPipelines.Register(); // so the help lists them
        var command = new Command("silo", $"""
            Run one silo of a cluster: gid silo --role coordinator|worker|all --store STORE --blob URI [options]
              --urls URL            HTTP API and dashboards (coordinator roles; default http://127.0.0.1:8480)
              --token-file FILE     the API token (default: $GID_TOKEN); required for coordinator roles
              --allow DIR           directories submitted videos may come from (repeatable)
              --silo-port N         Orleans silo port (default 11111); --gateway-port N: the gateway (coordinators; default 30000)
              --primary IP:PORT     the primary silo (localhost clustering) when this silo is not it
              --cluster-id ID       the cluster's id (default gid); --service-id ID: keys grain state and reminders (default gid)
              --address IP          address the silo and gateway bind to and advertise (default 127.0.0.1; any other needs TLS)
              --tls-cert PEM --tls-key PEM --tls-ca PEM
                                    mutual TLS on silo and gateway ports: this silo's certificate and key, the cluster CA
                                    (default: $GID_TLS_CERT, $GID_TLS_KEY, $GID_TLS_CA); clients need a certificate from that CA
              --slots N             work slots: videos run at once (default: one per core)
              --max-in-flight N     videos a job keeps started at once (default 64)
              --check-seconds S     how often a job checks its videos in flight (default 5)
              --reminder-seconds S  period of the reminders that re-drive unfinished work (default 60)
              --drain-seconds S     on SIGTERM, how long running work gets to finish before the silo stops (default 40)
              --pipeline NAME       default ingestion pipeline ({string.Join(", ", IngestionPipelines.Names)})
              --id ID               silo name in membership (default host-pid)
              Stores: {SiloOptions.StoreHelp}.
              Blob URIs: {BlobStoreUri.Help}. The token is never logged or returned.
            """)
        {
            // The options are the silo program's own (SiloOptions.Parse), passed through in order.
            TreatUnmatchedTokensAsErrors = false,
        };
        command.SetAction(async (parse, cancel) =>
        {
            SiloOptions options;
            try
            {
                options = SiloOptions.Parse([.. parse.UnmatchedTokens]);
            }
            catch (Exception e) when (e is ArgumentException or IOException)
            {
                Console.Error.WriteLine($"gid silo: {e.Message}");
                return 2;
            }
            var app = SiloHost.Build(options);
            await SiloHost.StartAsync(app, cancel);
            Console.WriteLine($"silo {options.Id} ({options.Role}){(options.IsCoordinator ? $" gateway {SiloHost.Gateway(options)}" : "")} listening on {SiloHost.Address(app)}");
            await app.WaitForShutdownAsync(CancellationToken.None);
            return 0;
        });
        return command;
    }
}
