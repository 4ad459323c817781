using System.Net;
using System.Net.Sockets;
using GidCluster.TestSupport;
using Npgsql;

namespace GidCluster.Cluster.Tests;

/// <summary>
/// A throwaway PostgreSQL 15 server (Debian's) on loopback in a temp directory, started once per
/// test collection and always stopped. It refuses to run as root, so it runs as <c>postgres</c>.
/// </summary>
public sealed class PostgresServer : IDisposable
{
    private const string Bin = "/usr/lib/postgresql/15/bin";
    private readonly TempDir _dir = Paths.NewTempDir("gid-pg");
    private readonly string _data;
    private int _databases;

    public PostgresServer()
    {
        _data = Path.Combine(_dir.Path, "data");
        Port = FreePort();
        Run("chown", ["-R", "postgres:postgres", _dir.Path], 20);
        AsPostgres($"{Bin}/initdb", ["-D", _data, "-A", "trust", "-U", "gid", "--no-sync"], 90);
        try
        {
            AsPostgres($"{Bin}/pg_ctl", ["-D", _data, "-o", $"-p {Port} -k {_dir.Path} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
                "-l", Path.Combine(_dir.Path, "log"), "-w", "-t", "30", "start"], 45);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public int Port { get; }

    /// <summary>Connection string of the server's maintenance database.</summary>
    public string AdminConnectionString => $"Host=127.0.0.1;Port={Port};Username=gid;Database=postgres;Pooling=false";

    /// <summary>A fresh, empty database; returns its connection string.</summary>
    public string NewDatabase()
    {
        var name = $"t{Interlocked.Increment(ref _databases)}_{Guid.NewGuid():N}"[..20];
        using (var c = new NpgsqlConnection(AdminConnectionString))
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
            _dir.Dispose();
        }
    }

    private static void AsPostgres(string program, string[] args, int seconds) =>
        Run("runuser", ["-u", "postgres", "--", program, .. args], seconds);

    private static void Run(string program, string[] args, int seconds)
    {
        var r = Programs.Run(program, args, TimeSpan.FromSeconds(seconds));
        if (r.ExitCode != 0)
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed ({r.ExitCode}):\n{r.Combined}");
    }

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresServer>
{
    public const string Name = "postgres";
}
