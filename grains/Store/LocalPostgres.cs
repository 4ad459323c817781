using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace GidCluster.Grains.Store;

/// <summary>
/// A throwaway PostgreSQL server (Debian's, <c>/usr/lib/postgresql/15/bin</c>) in a temp directory,
/// listening on 127.0.0.1 only, for tests and benchmarks. PostgreSQL refuses to run as root, so it
/// runs as the <c>postgres</c> user via runuser. Every step has a time limit; dispose stops it.
/// </summary>
public sealed class LocalPostgres : IDisposable
{
    public const string Bin = "/usr/lib/postgresql/15/bin";
    private readonly string _dir;
    private readonly string _data;
    private int _databases;

    public LocalPostgres()
    {
        _dir = Path.Combine(Path.GetTempPath(), $"gid-pg-{Guid.NewGuid():N}");
        Directory.CreateDirectory(_dir);
        _data = Path.Combine(_dir, "data");
        Port = FreePort();
        try
        {
            Run("chown", ["-R", "postgres:postgres", _dir], 20);
            AsPostgres($"{Bin}/initdb", ["-D", _data, "-A", "trust", "-U", "gid", "--no-sync"], 90);
            AsPostgres($"{Bin}/pg_ctl", ["-D", _data, "-o", $"-p {Port} -k {_dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
                "-l", Path.Combine(_dir, "log"), "-w", "-t", "30", "start"], 45);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public int Port { get; }

    /// <summary>Creates a fresh, empty database and returns its connection string.</summary>
    public string NewDatabase()
    {
        var name = $"t{Interlocked.Increment(ref _databases)}_{Guid.NewGuid():N}"[..20];
        using (var c = new NpgsqlConnection($"Host=127.0.0.1;Port={Port};Username=gid;Database=postgres;Pooling=false"))
        {
            c.Open();
            using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", c);
            cmd.ExecuteNonQuery();
        }
        return $"Host=127.0.0.1;Port={Port};Username=gid;Database={name}";
    }

    public void Dispose()
    {
        try
        {
            if (File.Exists(Path.Combine(_data, "postmaster.pid")))
                AsPostgres($"{Bin}/pg_ctl", ["-D", _data, "-m", "fast", "-w", "-t", "20", "stop"], 30);
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            try { Directory.Delete(_dir, recursive: true); }
            catch (IOException) { }
        }
    }

    private static void AsPostgres(string program, string[] args, int seconds) => Run("runuser", ["-u", "postgres", "--", program, .. args], seconds);

    private static void Run(string program, string[] args, int seconds)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
            start.ArgumentList.Add(a);
        using var p = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromSeconds(seconds)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} did not finish within {seconds} s");
        }
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed ({p.ExitCode}): {stdout.Result}{stderr.Result}");
    }

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
