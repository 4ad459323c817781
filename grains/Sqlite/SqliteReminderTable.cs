using Orleans;
using Orleans.Runtime;

namespace GidCluster.Grains.Sqlite;

/// <summary>
/// Orleans reminders in the SQLite file, so they survive the process: after a crash and restart the
/// silo's reminder service reads them back and fires them, which re-drives unfinished work. Rows are
/// found by the grain's uniform hash, the ring range each silo's reminder service owns.
/// </summary>
public sealed class SqliteReminderTable(SqliteFile file) : IReminderTable
{
    public Task<ReminderTableData> ReadRows(GrainId grainId) =>
        Task.FromResult(Read("grain_id = $g", ("$g", grainId.ToString())));

    public Task<ReminderTableData> ReadRows(uint begin, uint end) =>
        // (begin, end] on the ring; wrapping around when begin >= end (begin == end is the whole ring).
        Task.FromResult(begin < end
            ? Read("grain_hash > $b AND grain_hash <= $e", ("$b", (long)begin), ("$e", (long)end))
            : Read("grain_hash > $b OR grain_hash <= $e", ("$b", (long)begin), ("$e", (long)end)));

    public Task<ReminderEntry?> ReadRow(GrainId grainId, string reminderName) =>
        Task.FromResult(Read("grain_id = $g AND name = $n", ("$g", grainId.ToString()), ("$n", reminderName)).Reminders.FirstOrDefault());

    public Task<string?> UpsertRow(ReminderEntry entry)
    {
        var etag = Guid.NewGuid().ToString("N");
        using var c = file.Open();
        SqliteFile.Execute(c, """
            INSERT INTO reminders (grain_id, name, grain_hash, start_at, period, etag) VALUES ($g, $n, $h, $s, $p, $e)
            ON CONFLICT (grain_id, name) DO UPDATE SET start_at = $s, period = $p, etag = $e
            """,
            ("$g", entry.GrainId.ToString()), ("$n", entry.ReminderName), ("$h", (long)entry.GrainId.GetUniformHashCode()),
            ("$s", entry.StartAt.ToUniversalTime().Ticks), ("$p", entry.Period.Ticks), ("$e", etag));
        return Task.FromResult<string?>(etag);
    }

    public Task<bool> RemoveRow(GrainId grainId, string reminderName, string eTag)
    {
        using var c = file.Open();
        return Task.FromResult(SqliteFile.Execute(c, "DELETE FROM reminders WHERE grain_id = $g AND name = $n AND etag = $e",
            ("$g", grainId.ToString()), ("$n", reminderName), ("$e", eTag)) == 1);
    }

    public Task TestOnlyClearTable()
    {
        using var c = file.Open();
        SqliteFile.Execute(c, "DELETE FROM reminders");
        return Task.CompletedTask;
    }

    private ReminderTableData Read(string where, params (string, object?)[] parameters)
    {
        using var c = file.Open();
        using var command = SqliteFile.Command(c, $"SELECT grain_id, name, start_at, period, etag FROM reminders WHERE {where}", parameters);
        using var reader = command.ExecuteReader();
        var rows = new List<ReminderEntry>();
        while (reader.Read())
        {
            rows.Add(new ReminderEntry
            {
                GrainId = GrainId.Parse(reader.GetString(0)),
                ReminderName = reader.GetString(1),
                StartAt = new DateTime(reader.GetInt64(2), DateTimeKind.Utc),
                Period = TimeSpan.FromTicks(reader.GetInt64(3)),
                ETag = reader.GetString(4),
            });
        }
        return new ReminderTableData(rows);
    }
}
