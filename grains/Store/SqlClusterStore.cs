using System.Data;
using System.Data.Common;

namespace GidCluster.Grains.Store;

/// <summary>
/// The store over ADO.NET. SQLite and PostgreSQL share all SQL except what differs between
/// them (claiming, migration locking, identity columns), which the two subclasses supply.
/// </summary>
public abstract class SqlClusterStore(TimeProvider? time) : IClusterStore
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public abstract string Describe();

    public long Now() => _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>An open connection (pooled by the provider).</summary>
    protected abstract Task<DbConnection> OpenAsync(CancellationToken cancel);

    /// <summary>Serializes concurrent migrators inside <paramref name="tx"/>.</summary>
    protected abstract Task LockForMigrationAsync(DbConnection connection, DbTransaction tx, CancellationToken cancel);

    /// <summary>The column definition of an auto-numbered primary key.</summary>
    protected abstract string IdentityColumn { get; }

    /// <summary>
    /// One statement that picks one claimable grain of <c>@kinds</c> and leases it, returning the
    /// grain's columns. Parameters: @owner, @now, @expires, and the kinds (see <see cref="KindsList"/>).
    /// </summary>
    protected abstract string ClaimSql(string kindsList);

    public abstract ValueTask DisposeAsync();

    // --- migrations ---

    private IReadOnlyList<(int Version, string Name, string Sql)> Migrations() =>
    [
        (1, "jobs, grains, silos, events, metrics", $"""
            CREATE TABLE jobs (
                id TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                state TEXT NOT NULL,
                spec TEXT NOT NULL,
                result TEXT NULL,
                error TEXT NULL,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL);
            CREATE INDEX jobs_kind_created ON jobs (kind, created_at);
            CREATE TABLE grains (
                id TEXT PRIMARY KEY,
                job_id TEXT NOT NULL REFERENCES jobs (id),
                kind TEXT NOT NULL,
                state TEXT NOT NULL,
                input TEXT NOT NULL,
                result TEXT NULL,
                attempts INTEGER NOT NULL,
                max_attempts INTEGER NOT NULL,
                lease_owner TEXT NULL,
                lease_expires_at BIGINT NULL,
                fence BIGINT NOT NULL,
                error TEXT NULL,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL);
            CREATE INDEX grains_claim ON grains (kind, state, created_at);
            CREATE INDEX grains_job ON grains (job_id);
            CREATE TABLE silos (
                id TEXT PRIMARY KEY,
                role TEXT NOT NULL,
                address TEXT NOT NULL,
                state TEXT NOT NULL,
                started_at BIGINT NOT NULL,
                heartbeat_at BIGINT NOT NULL,
                info TEXT NOT NULL);
            CREATE TABLE events (
                id {IdentityColumn},
                at BIGINT NOT NULL,
                job_id TEXT NULL,
                grain_id TEXT NULL,
                silo_id TEXT NULL,
                kind TEXT NOT NULL,
                message TEXT NOT NULL);
            CREATE INDEX events_job ON events (job_id, id);
            CREATE TABLE metrics (
                id {IdentityColumn},
                at BIGINT NOT NULL,
                silo_id TEXT NOT NULL,
                name TEXT NOT NULL,
                value DOUBLE PRECISION NOT NULL);
            CREATE INDEX metrics_name_at ON metrics (name, at);
            """),
        (2, "checkpoint files", """
            CREATE TABLE checkpoint_files (
                run_id TEXT NOT NULL,
                step BIGINT NOT NULL,
                blob_path TEXT NOT NULL,
                size BIGINT NOT NULL,
                sha256 TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                PRIMARY KEY (run_id, step, blob_path));
            """),
    ];

    public async Task MigrateAsync(CancellationToken cancel = default)
    {
        await using var c = await OpenAsync(cancel);
        await using var tx = await c.BeginTransactionAsync(cancel);
        await LockForMigrationAsync(c, tx, cancel);
        await ExecAsync(c, tx, "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)", cancel);
        var applied = Convert.ToInt32(await ScalarAsync(c, tx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", cancel));
        foreach (var (version, name, sql) in Migrations())
        {
            if (version <= applied)
                continue;
            await ExecAsync(c, tx, sql, cancel);
            await ExecAsync(c, tx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (@v, @n, @t)", cancel,
                ("v", version), ("n", name), ("t", Now()));
        }
        await tx.CommitAsync(cancel);
    }

    public async Task<int> SchemaVersionAsync(CancellationToken cancel = default)
    {
        await using var c = await OpenAsync(cancel);
        return Convert.ToInt32(await ScalarAsync(c, null, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", cancel));
    }

    // --- jobs ---

    private const string JobColumns = "id, kind, state, spec, result, error, created_at, updated_at";

    private static JobRecord ReadJob(DbDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3),
        r.IsDBNull(4) ? null : r.GetString(4), r.IsDBNull(5) ? null : r.GetString(5),
        r.GetInt64(6), r.GetInt64(7));

    public async Task<bool> CreateJobAsync(JobRecord job, IReadOnlyList<NewGrain> grains, CancellationToken cancel = default)
    {
        await using var c = await OpenAsync(cancel);
        await using var tx = await c.BeginTransactionAsync(cancel);
        var added = await ExecAsync(c, tx, $"INSERT INTO jobs ({JobColumns}) VALUES (@id, @kind, @state, @spec, @result, @error, @now, @now) ON CONFLICT (id) DO NOTHING", cancel,
            ("id", job.Id), ("kind", job.Kind), ("state", job.State), ("spec", job.Spec), ("result", job.Result), ("error", job.Error), ("now", Now()));
        if (added == 0)
            return false;
        foreach (var g in grains)
            await InsertGrainAsync(c, tx, g, cancel);
        await tx.CommitAsync(cancel);
        return true;
    }

    public async Task<JobRecord?> GetJobAsync(string id, CancellationToken cancel = default)
    {
        await using var c = await OpenAsync(cancel);
        var rows = await QueryAsync(c, $"SELECT {JobColumns} FROM jobs WHERE id = @id", ReadJob, cancel, ("id", id));
        return rows.Count == 0 ? null : rows[0];
    }

    public async Task<IReadOnlyList<JobRecord>> ListJobsAsync(string? kind, int limit = 100, CancellationToken cancel = default)
    {
        await using var c = await OpenAsync(cancel);
        return await QueryAsync(c, $"SELECT {JobColumns} FROM jobs WHERE (@kind IS NULL OR kind = @kind) ORDER BY created_at DESC, id DESC LIMIT @limit",
            ReadJob, cancel, ("kind", kind), ("limit", limit));
    }

    public async Task<IReadOnlyList<JobRecord>> ListJobsInStatesAsync(IReadOnlyCollection<string> states, CancellationToken cancel = default)
    {
        await using var c = await OpenAsync(cancel);
        var (list, ps) = InList("s", states);
        return await QueryAsync(c, $"SELECT {JobColumns} FROM jobs WHERE state IN ({list}) ORDER BY created_at, id", ReadJob, cancel, ps);
    }

    public async Task<bool> TransitionJobAsync(string id, string expectedState, string state, string? result, string? error, CancellationToken cancel = default)
    {
        await using var c = await OpenAsync(cancel);
        return await ExecAsync(c, null,
            "UPDATE jobs SET state = @state, result = COALESCE(@result, result), error = COALESCE(@error, error), updated_at = @now WHERE id = @id AND state = @expected",
            cancel, ("id", id), ("expected", expectedState), ("state", state), ("result", result), ("error", error), ("now", Now())) == 1;
    }

    // --- grains ---

    protected const string GrainColumns = "id, job_id, kind, state, input, result, attempts, max_attempts, lease_owner, lease_expires_at, fence, error, created_at, updated_at";

    protected static GrainRecord ReadGrain(DbDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4),
        r.IsDBNull(5) ? null : r.GetString(5), r.GetInt32(6), r.GetInt32(7),
        r.IsDBNull(8) ? null : r.GetString(8), r.IsDBNull(9) ? null : r.GetInt64(9),
        r.GetInt64(10), r.IsDBNull(11) ? null : r.GetString(11), r.GetInt64(12), r.GetInt64(13));

    private Task<int> InsertGrainAsync(DbConnection c, DbTransaction? tx, NewGrain g, CancellationToken cancel)
    {
        if (g.MaxAttempts < 1)
            throw new ArgumentOutOfRangeException(nameof(g), $"grain '{g.Id}': max attempts must be at least 1, not {g.MaxAttempts}");
        return ExecAsync(c, tx,
            $"INSERT INTO grains ({GrainColumns}) VALUES (@id, @job, @kind, @pending, @input, NULL, 0, @max, NULL, NULL, 0, NULL, @now, @now) ON CONFLICT (id) DO NOTHING",
            cancel, ("id", g.Id), ("job", g.JobId), ("kind", g.Kind), ("pending", GrainStates.Pending), ("input", g.Input), ("max", g.MaxAttempts), ("now", Now()));
    }

    public async Task<bool> AddGrainAsync(NewGrain grain, CancellationToken cancel = default)
    {
        await using var c = await OpenAsync(cancel);
        return await InsertGrainAsync(c, null, grain, cancel) == 1;
    }

    public async Task<GrainRecord?> GetGrainAsync(string id, CancellationToken cancel = default)
    {
        await using var c = await OpenAsync(cancel);
        var rows = await QueryAsync(c, $"SELECT {GrainColumns} FROM grains WHERE id = @id", ReadGrain, cancel, ("id", id));
        return rows.Count == 0 ? null : rows[0];
    }

    public async Task<IReadOnlyList<GrainRecord>> ListGrainsAsync(string jobId, CancellationToken cancel = default)
    {
        await using var c = await OpenAsync(cancel);
        return await QueryAsync(c, $"SELECT {GrainColumns} FROM grains WHERE job_id = @job ORDER BY id", ReadGrain, cancel, ("job", jobId));
    }

    public async Task<Lease?> ClaimAsync(string owner, IReadOnlyCollection<string> kinds, TimeSpan leaseFor, CancellationToken cancel = default)
    {
        if (kinds.Count == 0)
            return null;
        var now = Now();
        var (list, ps) = InList("k", kinds);
        await using var c = await OpenAsync(cancel);
        var rows = await QueryAsync(c, ClaimSql(list), ReadGrain, cancel,
            [.. ps, ("owner", owner), ("now", now), ("expires", now + (long)leaseFor.TotalMilliseconds), ("leased", GrainStates.Leased), ("pending", GrainStates.Pending)]);
        if (rows.Count == 0)
            return null;
        var g = rows[0];
        return new Lease(g.Id, g.JobId, g.Kind, g.Input, owner, g.Fence, g.Attempts, g.LeaseExpiresAt!.Value);
    }

    /// <summary>The condition every fenced write carries: still leased, by this owner, at this fence.</summary>
    private const string Held = "id = @id AND state = @leased AND lease_owner = @owner AND fence = @fence";

    private static (string, object?)[] HeldParams(Lease l) =>
        [("id", l.GrainId), ("leased", GrainStates.Leased), ("owner", l.Owner), ("fence", l.Fence)];

    public async Task<Lease> HeartbeatAsync(Lease lease, TimeSpan leaseFor, CancellationToken cancel = default)
    {
        var now = Now();
        var expires = now + (long)leaseFor.TotalMilliseconds;
        await using var c = await OpenAsync(cancel);
        // An expired lease that nobody has re-claimed yet may still be extended: its fence is still current.
        var n = await ExecAsync(c, null, $"UPDATE grains SET lease_expires_at = @expires, updated_at = @now WHERE {Held}", cancel,
            [.. HeldParams(lease), ("expires", expires), ("now", now)]);
        if (n != 1)
            throw new LeaseLostException(lease.GrainId, lease.Fence);
        return lease with { ExpiresAt = expires };
    }

    public async Task CheckAsync(Lease lease, CancellationToken cancel = default)
    {
        await using var c = await OpenAsync(cancel);
        var n = Convert.ToInt64(await ScalarAsync(c, null, $"SELECT COUNT(*) FROM grains WHERE {Held}", cancel, HeldParams(lease)));
        if (n != 1)
            throw new LeaseLostException(lease.GrainId, lease.Fence);
    }

    public async Task CompleteAsync(Lease lease, string result, CancellationToken cancel = default)
    {
        await using var c = await OpenAsync(cancel);
        var n = await ExecAsync(c, null,
            $"UPDATE grains SET state = @done, result = @result, lease_owner = NULL, lease_expires_at = NULL, error = NULL, updated_at = @now WHERE {Held}",
            cancel, [.. HeldParams(lease), ("done", GrainStates.Done), ("result", result), ("now", Now())]);
        if (n != 1)
            throw new LeaseLostException(lease.GrainId, lease.Fence);
    }

    public async Task<string> FailAsync(Lease lease, string error, CancellationToken cancel = default)
    {
        await using var c = await OpenAsync(cancel);
        var rows = await QueryAsync(c,
            $"UPDATE grains SET state = CASE WHEN attempts >= max_attempts THEN @quarantined ELSE @pending END, error = @error, lease_owner = NULL, lease_expires_at = NULL, updated_at = @now WHERE {Held} RETURNING state",
            r => r.GetString(0), cancel,
            [.. HeldParams(lease), ("quarantined", GrainStates.Quarantined), ("pending", GrainStates.Pending), ("error", error), ("now", Now())]);
        if (rows.Count != 1)
            throw new LeaseLostException(lease.GrainId, lease.Fence);
        return rows[0];
    }

    public async Task ReleaseAsync(Lease lease, CancellationToken cancel = default)
    {
        await using var c = await OpenAsync(cancel);
        var n = await ExecAsync(c, null,
            $"UPDATE grains SET state = @pending, attempts = attempts - 1, lease_owner = NULL, lease_expires_at = NULL, updated_at = @now WHERE {Held}",
            cancel, [.. HeldParams(lease), ("pending", GrainStates.Pending), ("now", Now())]);
        if (n != 1)
            throw new LeaseLostException(lease.GrainId, lease.Fence);
    }

    public async Task<int> QuarantineExhaustedAsync(CancellationToken cancel = default)
    {
        var now = Now();
        await using var c = await OpenAsync(cancel);
        return await ExecAsync(c, null,
            "UPDATE grains SET state = @quarantined, error = COALESCE(error, 'lease expired on the last attempt (owner: ' || lease_owner || ')'), lease_owner = NULL, lease_expires_at = NULL, updated_at = @now " +
            "WHERE state = @leased AND lease_expires_at < @now AND attempts >= max_attempts",
            cancel, ("quarantined", GrainStates.Quarantined), ("leased", GrainStates.Leased), ("now", now));
    }

    // --- silos ---

    public async Task UpsertSiloAsync(string id, string role, string address, string info, CancellationToken cancel = default)
    {
        var now = Now();
        await using var c = await OpenAsync(cancel);
        await ExecAsync(c, null,
            "INSERT INTO silos (id, role, address, state, started_at, heartbeat_at, info) VALUES (@id, @role, @address, 'active', @now, @now, @info) " +
            "ON CONFLICT (id) DO UPDATE SET role = excluded.role, address = excluded.address, heartbeat_at = excluded.heartbeat_at, info = excluded.info, " +
            "state = CASE WHEN silos.state = 'draining' THEN silos.state ELSE 'active' END",
            cancel, ("id", id), ("role", role), ("address", address), ("now", now), ("info", info));
    }

    public async Task SetSiloStateAsync(string id, string state, CancellationToken cancel = default)
    {
        await using var c = await OpenAsync(cancel);
        await ExecAsync(c, null, "UPDATE silos SET state = @state, heartbeat_at = @now WHERE id = @id", cancel, ("id", id), ("state", state), ("now", Now()));
    }

    public async Task<IReadOnlyList<SiloRecord>> ListSilosAsync(CancellationToken cancel = default)
    {
        await using var c = await OpenAsync(cancel);
        return await QueryAsync(c, "SELECT id, role, address, state, started_at, heartbeat_at, info FROM silos ORDER BY id",
            r => new SiloRecord(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt64(4), r.GetInt64(5), r.GetString(6)), cancel);
    }

    // --- events, metrics, checkpoints ---

    public async Task AddEventAsync(string? jobId, string? grainId, string? siloId, string kind, string message, CancellationToken cancel = default)
    {
        await using var c = await OpenAsync(cancel);
        await ExecAsync(c, null, "INSERT INTO events (at, job_id, grain_id, silo_id, kind, message) VALUES (@at, @job, @grain, @silo, @kind, @message)", cancel,
            ("at", Now()), ("job", jobId), ("grain", grainId), ("silo", siloId), ("kind", kind), ("message", message));
    }

    public async Task<IReadOnlyList<EventRecord>> ListEventsAsync(string? jobId, int limit = 100, CancellationToken cancel = default)
    {
        await using var c = await OpenAsync(cancel);
        return await QueryAsync(c, "SELECT id, at, job_id, grain_id, silo_id, kind, message FROM events WHERE (@job IS NULL OR job_id = @job) ORDER BY id DESC LIMIT @limit",
            r => new EventRecord(r.GetInt64(0), r.GetInt64(1), r.IsDBNull(2) ? null : r.GetString(2), r.IsDBNull(3) ? null : r.GetString(3),
                r.IsDBNull(4) ? null : r.GetString(4), r.GetString(5), r.GetString(6)), cancel, ("job", jobId), ("limit", limit));
    }

    public async Task AddMetricAsync(string siloId, string name, double value, CancellationToken cancel = default)
    {
        await using var c = await OpenAsync(cancel);
        await ExecAsync(c, null, "INSERT INTO metrics (at, silo_id, name, value) VALUES (@at, @silo, @name, @value)", cancel,
            ("at", Now()), ("silo", siloId), ("name", name), ("value", value));
    }

    public async Task<IReadOnlyList<MetricRecord>> ListMetricsAsync(string? name, long since, CancellationToken cancel = default)
    {
        await using var c = await OpenAsync(cancel);
        return await QueryAsync(c, "SELECT at, silo_id, name, value FROM metrics WHERE (@name IS NULL OR name = @name) AND at >= @since ORDER BY at, id",
            r => new MetricRecord(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetDouble(3)), cancel, ("name", name), ("since", since));
    }

    public async Task AddCheckpointFileAsync(CheckpointFile file, CancellationToken cancel = default)
    {
        await using var c = await OpenAsync(cancel);
        await ExecAsync(c, null,
            "INSERT INTO checkpoint_files (run_id, step, blob_path, size, sha256, created_at) VALUES (@run, @step, @path, @size, @sha, @at) ON CONFLICT (run_id, step, blob_path) DO NOTHING",
            cancel, ("run", file.RunId), ("step", file.Step), ("path", file.BlobPath), ("size", file.Size), ("sha", file.Sha256), ("at", Now()));
    }

    public async Task<IReadOnlyList<CheckpointFile>> ListCheckpointFilesAsync(string runId, CancellationToken cancel = default)
    {
        await using var c = await OpenAsync(cancel);
        return await QueryAsync(c, "SELECT run_id, step, blob_path, size, sha256, created_at FROM checkpoint_files WHERE run_id = @run ORDER BY step, blob_path",
            r => new CheckpointFile(r.GetString(0), r.GetInt64(1), r.GetString(2), r.GetInt64(3), r.GetString(4), r.GetInt64(5)), cancel, ("run", runId));
    }

    // --- ADO.NET helpers ---

    protected static (string List, (string, object?)[] Params) InList(string prefix, IReadOnlyCollection<string> values)
    {
        var ps = values.Select((v, i) => ($"{prefix}{i}", (object?)v)).ToArray();
        return (string.Join(", ", ps.Select(p => "@" + p.Item1)), ps);
    }

    private static DbCommand Command(DbConnection c, DbTransaction? tx, string sql, (string Name, object? Value)[] ps)
    {
        var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        foreach (var (name, value) in ps)
        {
            var p = cmd.CreateParameter();
            p.ParameterName = name;
            p.Value = value ?? DBNull.Value;
            // An untyped null must still be typed for PostgreSQL's "@x IS NULL" checks.
            if (value == null)
                p.DbType = DbType.String;
            cmd.Parameters.Add(p);
        }
        return cmd;
    }

    protected static async Task<int> ExecAsync(DbConnection c, DbTransaction? tx, string sql, CancellationToken cancel, params (string, object?)[] ps)
    {
        await using var cmd = Command(c, tx, sql, ps);
        return await cmd.ExecuteNonQueryAsync(cancel);
    }

    protected static async Task<object?> ScalarAsync(DbConnection c, DbTransaction? tx, string sql, CancellationToken cancel, params (string, object?)[] ps)
    {
        await using var cmd = Command(c, tx, sql, ps);
        return await cmd.ExecuteScalarAsync(cancel);
    }

    protected static async Task<List<T>> QueryAsync<T>(DbConnection c, string sql, Func<DbDataReader, T> read, CancellationToken cancel, params (string, object?)[] ps)
    {
        await using var cmd = Command(c, null, sql, ps);
        await using var r = await cmd.ExecuteReaderAsync(cancel);
        var rows = new List<T>();
        while (await r.ReadAsync(cancel))
            rows.Add(read(r));
        return rows;
    }
}
