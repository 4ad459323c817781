using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace GidCluster.Grains.Store;

/// <summary>
/// The embedded store: one SQLite file, shared by every silo process on this machine (WAL mode;
/// SQLite serializes writers, so a claim is one atomic <c>UPDATE … RETURNING</c>).
/// </summary>
public sealed class SqliteClusterStore : SqlClusterStore
{
    private readonly string _connectionString;
    private readonly string _path;

    public SqliteClusterStore(string path, TimeProvider? time = null) : base(time)
    {
        _path = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(_path);
        if (!string.IsNullOrEmpty(dir))
            Directory.CreateDirectory(dir);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = _path,
            Pooling = true,
            // Writers wait (Microsoft.Data.Sqlite retries while the database is busy) up to this many seconds.
            DefaultTimeout = 30,
        }.ToString();
    }

    public override string Describe() => $"sqlite:{_path}";

    protected override string IdentityColumn => "INTEGER PRIMARY KEY AUTOINCREMENT";

    protected override async Task<DbConnection> OpenAsync(CancellationToken cancel)
    {
        var c = new SqliteConnection(_connectionString);
        await c.OpenAsync(cancel);
        await ExecAsync(c, null, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;", cancel);
        return c;
    }

    // BEGIN IMMEDIATE (Microsoft.Data.Sqlite's default) already makes the migrator the only writer.
    protected override Task LockForMigrationAsync(DbConnection connection, DbTransaction tx, CancellationToken cancel) => Task.CompletedTask;

    protected override string ClaimSql(string kindsList) => $"""
        UPDATE grains SET state = @leased, lease_owner = @owner, lease_expires_at = @expires,
            fence = fence + 1, attempts = attempts + 1, updated_at = @now
        WHERE id = (
            SELECT id FROM grains
            WHERE kind IN ({kindsList}) AND attempts < max_attempts
              AND (state = @pending OR (state = @leased AND lease_expires_at < @now))
            ORDER BY created_at, id LIMIT 1)
        RETURNING {GrainColumns}
        """;

    public override ValueTask DisposeAsync()
    {
        // Pooled connections keep the file open; clear them so the file can be removed.
        SqliteConnection.ClearAllPools();
        return ValueTask.CompletedTask;
    }
}
