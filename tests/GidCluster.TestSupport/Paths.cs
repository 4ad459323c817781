namespace GidCluster.TestSupport;

/// <summary>The checkout under test and the <c>../shared</c> folder beside it.</summary>
public static class Paths
{
    public static string Repo { get; } = FindRepo();

    /// <summary><c>../shared</c> next to the checkout (design docs, real clips, Python references).</summary>
    public static string Shared => Path.GetFullPath(Path.Combine(Repo, "..", "shared"));

    public static string Videos => Path.Combine(Shared, "data", "videos");

    public static string Bench => Path.Combine(Shared, "bench");

    /// <summary>A fresh directory under the system temp folder, removed when disposed.</summary>
    public static TempDir NewTempDir(string prefix = "gid-test") => new(prefix);

    private static string FindRepo()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "GidCluster.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException("tests must run from inside a GidCluster checkout");
    }
}

public sealed class TempDir : IDisposable
{
    public TempDir(string prefix)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { } // a child process may still hold a file; the OS temp cleaner takes it
    }
}
