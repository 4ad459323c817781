using Microsoft.Data.Sqlite;

namespace GidCluster.Grains.Sqlite;

/// <summary>
/// The embedded default's durable file: grain state and reminders in one SQLite database (WAL, so
/// several silo processes on one machine may share it). Each call opens a pooled connection.
/// </summary>
public sealed class SqliteFile
{
    private readonly string _connection;

    public SqliteFile(string path)
    {
        Path = System.IO.Path.GetFullPath(path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        _connection = new SqliteConnectionStringBuilder { DataSource = Path, Pooling = true, DefaultTimeout = 30 }.ToString();
        using var c = Open();
        Execute(c, """
            PRAGMA journal_mode=WAL;
            CREATE TABLE IF NOT EXISTS grain_state (
                name TEXT NOT NULL, grain_id TEXT NOT NULL, etag TEXT NOT NULL, data BLOB NOT NULL, updated_at INTEGER NOT NULL,
                PRIMARY KEY (name, grain_id));
            CREATE TABLE IF NOT EXISTS reminders (
                grain_id TEXT NOT NULL, name TEXT NOT NULL, grain_hash INTEGER NOT NULL, start_at INTEGER NOT NULL, period INTEGER NOT NULL, etag TEXT NOT NULL,
                PRIMARY KEY (grain_id, name));
            CREATE INDEX IF NOT EXISTS reminders_hash ON reminders (grain_hash);
            """);
    }

    public string Path { get; }

    /// <summary>The <c>sqlite:PATH</c> form the silo options take.</summary>
    public const string UriHelp = "sqlite:PATH (grain state and reminders in one SQLite file)";

    public static SqliteFile FromUri(string uri) =>
        uri.StartsWith("sqlite:", StringComparison.Ordinal) && uri.Length > "sqlite:".Length
            ? new SqliteFile(uri["sqlite:".Length..])
            : throw new ArgumentException($"storage URI must be {UriHelp}");

    public SqliteConnection Open()
    {
        var c = new SqliteConnection(_connection);
        c.Open();
        // Writers from other processes wait rather than fail. With WAL, NORMAL syncs at checkpoints:
        // a power cut may lose the last commits, a killed process loses nothing.
        Execute(c, "PRAGMA busy_timeout=30000; PRAGMA synchronous=NORMAL;");
        return c;
    }

    public static int Execute(SqliteConnection c, string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(c, sql, parameters);
        return command.ExecuteNonQuery();
    }

    public static SqliteCommand Command(SqliteConnection c, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = c.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return command;
    }
}
