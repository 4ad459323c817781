namespace GidCluster.Client.Commands;

/// <summary>Where the checkout is: <c>$GID_HOME</c> (set by ./gid), else the nearest ancestor holding GidCluster.sln.</summary>
public static class RepoPaths
{
    public static string Root()
    {
        var home = Environment.GetEnvironmentVariable("GID_HOME");
        if (!string.IsNullOrEmpty(home))
            return Path.GetFullPath(home);
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "GidCluster.sln")))
                return dir.FullName;
        }
        // Where the program runs from is the user's setup, not a bug: one line saying what to set.
        throw new DirectoryNotFoundException($"cannot find the GidCluster checkout (no GidCluster.sln above {AppContext.BaseDirectory}): set GID_HOME to it, or run ./gid from it");
    }
}
