using GidCluster.Grains.Store;

namespace GidCluster.Cluster.Tests;

/// <summary>One throwaway PostgreSQL 15 server on loopback per test collection (<see cref="LocalPostgres"/>), always stopped.</summary>
public sealed class PostgresServer : IDisposable
{
    private readonly LocalPostgres _server = new();

    public int Port => _server.Port;

    public string NewDatabase() => _server.NewDatabase();

    public void Dispose() => _server.Dispose();

    public static int FreePort() => LocalPostgres.FreePort();
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresServer>
{
    public const string Name = "postgres";
}
