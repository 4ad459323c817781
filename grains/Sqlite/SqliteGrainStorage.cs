using Orleans;
using Orleans.Runtime;
using Orleans.Storage;

namespace GidCluster.Grains.Sqlite;

/// <summary>
/// Grain state in the SQLite file, ETag-checked: a write names the ETag it read, and a row changed
/// since (by a newer activation of the same grain, here or in another process) makes the write fail
/// with <see cref="InconsistentStateException"/>, so a stale activation can never overwrite newer state.
/// Orleans serves no file-backed storage provider, so this small one is ours.
/// </summary>
public sealed class SqliteGrainStorage(SqliteFile file, IGrainStorageSerializer serializer) : IGrainStorage
{
    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        using var c = file.Open();
        using var command = SqliteFile.Command(c, "SELECT etag, data FROM grain_state WHERE name = $n AND grain_id = $g", ("$n", stateName), ("$g", grainId.ToString()));
        using var reader = command.ExecuteReader();
        if (reader.Read())
        {
            grainState.State = serializer.Deserialize<T>(new BinaryData((byte[])reader["data"]));
            grainState.ETag = reader.GetString(0);
            grainState.RecordExists = true;
        }
        else
        {
            grainState.ETag = null;
            grainState.RecordExists = false;
        }
        return Task.CompletedTask;
    }

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var etag = Guid.NewGuid().ToString("N");
        var data = serializer.Serialize(grainState.State).ToArray();
        using var c = file.Open();
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        int changed = grainState.ETag == null
            ? SqliteFile.Execute(c, "INSERT INTO grain_state (name, grain_id, etag, data, updated_at) VALUES ($n, $g, $e, $d, $t) ON CONFLICT DO NOTHING",
                ("$n", stateName), ("$g", grainId.ToString()), ("$e", etag), ("$d", data), ("$t", now))
            : SqliteFile.Execute(c, "UPDATE grain_state SET etag = $e, data = $d, updated_at = $t WHERE name = $n AND grain_id = $g AND etag = $old",
                ("$n", stateName), ("$g", grainId.ToString()), ("$e", etag), ("$d", data), ("$t", now), ("$old", grainState.ETag));
        if (changed != 1)
            throw Conflict(c, stateName, grainId, grainState.ETag);
        grainState.ETag = etag;
        grainState.RecordExists = true;
        return Task.CompletedTask;
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        using var c = file.Open();
        if (grainState.ETag != null
            && SqliteFile.Execute(c, "DELETE FROM grain_state WHERE name = $n AND grain_id = $g AND etag = $old", ("$n", stateName), ("$g", grainId.ToString()), ("$old", grainState.ETag)) != 1)
            throw Conflict(c, stateName, grainId, grainState.ETag);
        grainState.ETag = null;
        grainState.RecordExists = false;
        return Task.CompletedTask;
    }

    private static InconsistentStateException Conflict(Microsoft.Data.Sqlite.SqliteConnection c, string stateName, GrainId grainId, string? expected)
    {
        using var command = SqliteFile.Command(c, "SELECT etag FROM grain_state WHERE name = $n AND grain_id = $g", ("$n", stateName), ("$g", grainId.ToString()));
        var stored = command.ExecuteScalar() as string;
        return new InconsistentStateException($"state '{stateName}' of {grainId} changed since this activation read it (ETag {expected ?? "none"}, stored {stored ?? "none"})", stored, expected);
    }
}
