using System.Reflection;
using System.Runtime.InteropServices;

namespace GidCluster.Native;

/// <summary>
/// Locates the shared libraries that <c>./gid</c> builds with CMake (<c>build/native</c>) so
/// that <c>[DllImport("gid_torch")]</c> resolves without installing anything system-wide.
/// Search order: <c>$GID_NATIVE_DIR</c>, the application directory, then <c>build/native</c>
/// in the application directory's ancestors (a checkout's tests and tools).
/// </summary>
public static class NativeLibraries
{
    public const string EnvironmentVariable = "GID_NATIVE_DIR";

    private static readonly object Gate = new();
    private static readonly HashSet<Assembly> Registered = [];

    /// <summary>Makes DllImports of <paramref name="assembly"/> find the GidCluster shims.</summary>
    public static void Register(Assembly assembly)
    {
        lock (Gate)
        {
            if (Registered.Add(assembly))
                NativeLibrary.SetDllImportResolver(assembly, Resolve);
        }
    }

    /// <summary>The full path of a shim such as <c>gid_torch</c>, or an exception that says where it looked.</summary>
    public static string Locate(string name)
    {
        var file = $"lib{name}.so";
        var searched = new List<string>();
        foreach (var dir in CandidateDirectories())
        {
            var path = Path.Combine(dir, file);
            searched.Add(dir);
            if (File.Exists(path))
                return path;
        }
        throw new DllNotFoundException(
            $"{file} was not found (looked in: {string.Join(", ", searched)}). " +
            $"Run ./gid once to build the native shims, or set {EnvironmentVariable}.");
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (!name.StartsWith("gid_", StringComparison.Ordinal))
            return IntPtr.Zero; // not ours: let the runtime resolve it (libc, libz, ...)
        var path = Locate(name);
        try
        {
            return NativeLibrary.Load(path);
        }
        catch (DllNotFoundException e)
        {
            // A shim that exists but fails to load is missing one of its engine's libraries.
            throw new DllNotFoundException($"{path} exists but could not be loaded: {e.Message}", e);
        }
    }

    private static IEnumerable<string> CandidateDirectories()
    {
        var fromEnv = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrEmpty(fromEnv))
            yield return Path.GetFullPath(fromEnv);
        var baseDir = AppContext.BaseDirectory;
        yield return baseDir;
        for (var dir = new DirectoryInfo(baseDir); dir != null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "build", "native");
            if (Directory.Exists(candidate))
                yield return candidate;
        }
    }
}
