using System.CommandLine;
using System.Security.Cryptography;
using GidCluster.Grains.Work;
using GidCluster.Silo.Hosting;
using Microsoft.Extensions.Hosting;

namespace GidCluster.Client.Commands;

/// <summary><c>gid up</c>: the embedded cluster — one silo with both roles, localhost clustering, grain state and reminders in SQLite, a local blob directory.</summary>
public static class UpCommand
{
    public static Command Create()
    {
        var data = new Option<string?>("--data") { Description = "Folder for the grain state, blobs and endpoint file (default: $GID_DATA or ~/.gid)." };
        var port = new Option<int>("--port") { Description = "HTTP port (dashboard, API) on 127.0.0.1 (0 picks a free one).", DefaultValueFactory = _ => 8480 };
        var gatewayPort = new Option<int>("--gateway-port") { Description = "Orleans gateway port on 127.0.0.1 (0 picks a free one).", DefaultValueFactory = _ => 30000 };
        var siloPort = new Option<int>("--silo-port") { Description = "Orleans silo port on 127.0.0.1 (0 picks a free one).", DefaultValueFactory = _ => 11111 };
        var allow = new Option<string[]>("--allow") { Description = "Directories videos may be read from (repeatable; default: the current directory).", AllowMultipleArgumentsPerToken = true };
        var slots = new Option<int>("--slots") { Description = "Videos processed at once (default: one per core)." };
        var reminder = new Option<double>("--reminder-seconds") { Description = "How soon after a restart unfinished work resumes, at most.", DefaultValueFactory = _ => 60 };
        var command = new Command("up", "Start the embedded cluster (one silo with both roles, grain state and reminders in SQLite, local blobs); prints its URL, token and gateway.")
        {
            data, port, gatewayPort, siloPort, allow, slots, reminder,
        };
        command.SetAction(async (parse, cancel) =>
        {
            var dir = Path.GetFullPath(parse.GetValue(data) ?? EndpointFile.DataDir());
            var roots = parse.GetValue(allow) is { Length: > 0 } a ? a.Select(Path.GetFullPath).ToArray() : [Environment.CurrentDirectory];
            var token = Environment.GetEnvironmentVariable("GID_TOKEN") is { Length: >= 16 } t ? t
                : Convert.ToBase64String(RandomNumberGenerator.GetBytes(24)).Replace('+', '-').Replace('/', '_');
            static int Port(int p) => p == 0 ? FreePorts.Next() : p;
            SiloOptions options;
            try
            {
                options = new SiloOptions
                {
                    Role = SiloRoles.All,
                    Id = "gid-up",
                    Store = $"sqlite:{Path.Combine(dir, "cluster.db")}",
                    Blob = $"file:{Path.Combine(dir, "blobs")}",
                    Urls = $"http://127.0.0.1:{parse.GetValue(port)}",
                    SiloPort = Port(parse.GetValue(siloPort)),
                    GatewayPort = Port(parse.GetValue(gatewayPort)),
                    Token = token,
                    AllowedRoots = roots,
                    Slots = parse.GetValue(slots) is > 0 and var n ? n : new SiloOptions { Role = "", Store = "", Blob = "" }.Slots,
                    Reminder = TimeSpan.FromSeconds(Math.Max(1, parse.GetValue(reminder))),
                }.Validate();
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"gid up: {e.Message}");
                return 2;
            }
            var app = SiloHost.Build(options);
            await SiloHost.StartAsync(app, cancel);
            var url = SiloHost.Address(app);
            new EndpointFile(url, token, SiloHost.Gateway(options), options.ClusterId, options.ServiceId, options.Blob).Write();
            // The token is shown once, to the user who started the cluster; the logs never carry it.
            Console.WriteLine($"GidCluster is up (embedded: one Orleans silo, both roles, {options.Store}, {options.Blob})");
            Console.WriteLine($"  gateway: {SiloHost.Gateway(options)}");
            Console.WriteLine($"  token:  {token}");
            Console.WriteLine($"  videos: from {string.Join(", ", roots)}");
            Console.WriteLine($"Other gid commands on this machine find it through {EndpointFile.DefaultPath}; elsewhere pass --cluster. Ctrl+C stops it.");
            // Last, as tests and scripts read the URL as this line's last word.
            Console.WriteLine($"  url:    {url}");
            await app.WaitForShutdownAsync(CancellationToken.None);
            EndpointFile.Delete();
            return 0;
        });
        return command;
    }
}
