using System.CommandLine;
using System.Security.Cryptography;
using GidCluster.Silo.Hosting;
using Microsoft.Extensions.Hosting;

namespace GidCluster.Client.Commands;

/// <summary><c>gid up</c>: the embedded cluster — one process with both roles, SQLite, a local blob directory.</summary>
public static class UpCommand
{
    public static Command Create()
    {
        var data = new Option<string?>("--data") { Description = "Folder for the store, blobs and endpoint file (default: $GID_DATA or ~/.gid)." };
        var port = new Option<int>("--port") { Description = "Port on 127.0.0.1 (0 picks a free one).", DefaultValueFactory = _ => 8480 };
        var allow = new Option<string[]>("--allow") { Description = "Directories videos may be read from (repeatable; default: the current directory).", AllowMultipleArgumentsPerToken = true };
        var slots = new Option<int>("--slots") { Description = "Grains processed at once.", DefaultValueFactory = _ => 1 };
        var command = new Command("up", "Start the embedded cluster (coordinator + worker in this process, SQLite store, local blobs); prints its URL and token.")
        {
            data, port, allow, slots,
        };
        command.SetAction(async (parse, cancel) =>
        {
            var dir = Path.GetFullPath(parse.GetValue(data) ?? EndpointFile.DataDir());
            var roots = parse.GetValue(allow) is { Length: > 0 } a ? a.Select(Path.GetFullPath).ToArray() : [Environment.CurrentDirectory];
            var token = Environment.GetEnvironmentVariable("GID_TOKEN") is { Length: >= 16 } t ? t
                : Convert.ToBase64String(RandomNumberGenerator.GetBytes(24)).Replace('+', '-').Replace('/', '_');
            SiloOptions options;
            try
            {
                options = new SiloOptions
                {
                    Role = SiloRoles.All,
                    Store = $"sqlite:{Path.Combine(dir, "cluster.db")}",
                    Blob = $"file:{Path.Combine(dir, "blobs")}",
                    Urls = $"http://127.0.0.1:{parse.GetValue(port)}",
                    Token = token,
                    AllowedRoots = roots,
                    Slots = parse.GetValue(slots),
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
            new EndpointFile(url, token).Write();
            // The token is shown once, to the user who started the cluster; the logs never carry it.
            Console.WriteLine($"GidCluster is up (embedded: coordinator + worker, {options.Store}, {options.Blob})");
            Console.WriteLine($"  url:    {url}");
            Console.WriteLine($"  token:  {token}");
            Console.WriteLine($"  videos: from {string.Join(", ", roots)}");
            Console.WriteLine($"Other gid commands on this machine find it through {Path.Combine(EndpointFile.DataDir(), "endpoint.json")}; elsewhere use GID_SERVER and GID_TOKEN. Ctrl+C stops it.");
            await app.WaitForShutdownAsync(CancellationToken.None);
            EndpointFile.Delete();
            return 0;
        });
        return command;
    }
}
