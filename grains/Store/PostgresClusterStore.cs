using System.Data.Common;
using Npgsql;

namespace GidCluster.Grains.Store;

/// <summary>
/// The store at scale: PostgreSQL through Npgsql. Claims use <c>FOR UPDATE SKIP LOCKED</c>, so
/// many workers claiming at once never wait on each other's rows.
/// </summary>
public sealed class PostgresClusterStore : SqlClusterStore
{
    private readonly NpgsqlDataSource _source;
    private readonly string _description;

    public PostgresClusterStore(string connectionString, TimeProvider? time = null) : base(time)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        _description = $"postgres://{builder.Username}@{builder.Host}:{builder.Port}/{builder.Database}";
        _source = NpgsqlDataSource.Create(builder.ConnectionString);
    }

    public override string Describe() => _description;

    protected override string IdentityColumn => "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY";

    protected override async Task<DbConnection> OpenAsync(CancellationToken cancel) => await _source.OpenConnectionAsync(cancel);

    protected override Task LockForMigrationAsync(DbConnection connection, DbTransaction tx, CancellationToken cancel) =>
        ExecAsync(connection, tx, "SELECT pg_advisory_xact_lock(736174)", cancel);

    protected override string ClaimSql(string kindsList) => $"""
        UPDATE grains g SET state = @leased, lease_owner = @owner, lease_expires_at = @expires,
            fence = g.fence + 1, attempts = g.attempts + 1, updated_at = @now
        FROM (
            SELECT id FROM grains
            WHERE kind IN ({kindsList}) AND attempts < max_attempts
              AND (state = @pending OR (state = @leased AND lease_expires_at < @now))
            ORDER BY created_at, id LIMIT 1
            FOR UPDATE SKIP LOCKED) pick
        WHERE g.id = pick.id
        RETURNING {string.Join(", ", GrainColumns.Split(", ").Select(col => "g." + col))}
        """;

    public override ValueTask DisposeAsync() => _source.DisposeAsync();
}
