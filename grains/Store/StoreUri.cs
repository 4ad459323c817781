using Npgsql;

namespace GidCluster.Grains.Store;

/// <summary>
/// Opens a store from a URI. Forms:
/// <c>sqlite:PATH</c> (a file, created if missing);
/// <c>postgres://USER:PASSWORD@HOST:PORT/DATABASE</c> (also <c>postgresql://</c>);
/// or an Npgsql connection string (<c>Host=…;Port=…;Username=…;Password=…;Database=…</c>).
/// </summary>
public static class StoreUri
{
    public const string Help =
        "sqlite:PATH | postgres://USER:PASSWORD@HOST:PORT/DATABASE | Npgsql connection string (Host=...;Username=...;Password=...;Database=...)";

    public static IClusterStore Open(string uri, TimeProvider? time = null)
    {
        if (string.IsNullOrWhiteSpace(uri))
            throw new ArgumentException($"store URI is empty; expected {Help}", nameof(uri));
        if (uri.StartsWith("sqlite:", StringComparison.OrdinalIgnoreCase))
        {
            var path = uri["sqlite:".Length..];
            if (path.StartsWith("//", StringComparison.Ordinal))
                path = new Uri(uri).LocalPath;
            if (path.Length == 0)
                throw new ArgumentException("store URI 'sqlite:' names no file; use sqlite:PATH", nameof(uri));
            return new SqliteClusterStore(path, time);
        }
        if (uri.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) || uri.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase))
            return new PostgresClusterStore(FromUrl(uri), time);
        if (uri.Contains('=') && (uri.Contains("host=", StringComparison.OrdinalIgnoreCase) || uri.Contains("server=", StringComparison.OrdinalIgnoreCase)))
            return new PostgresClusterStore(uri, time);
        // Never echo the URI itself: it may hold a password.
        throw new ArgumentException($"store URI has an unknown form; expected {Help}", nameof(uri));
    }

    private static string FromUrl(string url)
    {
        Uri u;
        try { u = new Uri(url); }
        catch (UriFormatException) { throw new ArgumentException("store URI is not a valid postgres:// URL", nameof(url)); }
        var b = new NpgsqlConnectionStringBuilder
        {
            Host = u.Host,
            Port = u.IsDefaultPort || u.Port <= 0 ? 5432 : u.Port,
            Database = Uri.UnescapeDataString(u.AbsolutePath.Trim('/')) is { Length: > 0 } db ? db : "postgres",
        };
        if (u.UserInfo.Length > 0)
        {
            var parts = u.UserInfo.Split(':', 2);
            b.Username = Uri.UnescapeDataString(parts[0]);
            if (parts.Length == 2)
                b.Password = Uri.UnescapeDataString(parts[1]);
        }
        return b.ConnectionString;
    }
}
