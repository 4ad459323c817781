namespace GidCluster.Torch.Tests;

/// <summary>
/// The setup fix that makes TorchSharp load on Debian 12 (<c>training/setup/relax_version_needs.py</c>,
/// run by <c>./gid</c> on the build output): TorchSharp's shim as shipped does not load against this
/// libstdc++, the patched copy does and runs. Each load happens in a child python3 (ctypes, RTLD_LOCAL)
/// next to the same libtorch this test process uses.
/// </summary>
public class LoadFixTests
{
    private static readonly string Shipped = Path.Combine(
        Environment.GetEnvironmentVariable("NUGET_PACKAGES") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages"),
        "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");

    /// <summary>Where the build puts the natives of a RID-less build (resolved through the deps.json).</summary>
    private static readonly string NativeDir = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native");

    private static readonly string Script = Path.Combine(Paths.Repo, "training", "setup", "relax_version_needs.py");

    private static bool SystemLibstdcxxHas(string version) =>
        Programs.RunPython($"import ctypes; ctypes.CDLL('libstdc++.so.6'); import re\n" +
            "p=[l.split()[-1] for l in open('/proc/self/maps') if 'libstdc++.so.6' in l][0]\n" +
            $"print(b'\\0{version}\\0' in open(p,'rb').read())").Trim() == "True";

    /// <summary>A directory with libtorch (links to this process's copies) and the given shim.</summary>
    private static string Stage(TempDir dir, string shim)
    {
        foreach (var lib in Directory.GetFiles(NativeDir, "lib*.so*").Where(f => !f.EndsWith("libLibTorchSharp.so", StringComparison.Ordinal)))
            File.CreateSymbolicLink(Path.Combine(dir.Path, Path.GetFileName(lib)), lib);
        var target = Path.Combine(dir.Path, "libLibTorchSharp.so");
        File.Copy(shim, target);
        return target;
    }

    private static string TryLoad(string path) => Programs.RunPython($"""
        import ctypes
        try:
            lib = ctypes.CDLL('{path}')
            print('LOADED threads', lib.THSTorch_get_num_threads())
        except OSError as e:
            print('FAILED', e)
        """).Trim();

    [Fact]
    public void Shipped_shim_fails_here_and_the_patched_copy_loads_and_runs()
    {
        Assert.True(File.Exists(Shipped), $"the restored TorchSharp package should hold {Shipped}");
        if (SystemLibstdcxxHas("GLIBCXX_3.4.32"))
        {
            // A newer system: nothing to fix, and the script must leave the file alone.
            Assert.Contains("LOADED", TryLoad(Shipped));
            return;
        }
        using var shipped = Paths.NewTempDir("gid-torch-loadfix-shipped");
        var original = Stage(shipped, Shipped);
        var failure = TryLoad(original);
        Assert.StartsWith("FAILED", failure);
        Assert.Contains("GLIBCXX_3.4.32", failure);

        using var patched = Paths.NewTempDir("gid-torch-loadfix-patched");
        var copy = Stage(patched, Shipped);
        Programs.RunPython(File.ReadAllText(Script), ["patch", copy]);
        Assert.Matches(@"^LOADED threads \d+$", TryLoad(copy));
        // idempotent: a second run finds nothing to do; the package's file is untouched
        Assert.Equal("", Programs.RunPython(File.ReadAllText(Script), ["patch", copy]).Trim());
        Assert.Equal(File.ReadAllBytes(Shipped), File.ReadAllBytes(original));
    }

    [Fact]
    public void This_process_runs_tensors_through_the_patched_copy_in_its_output()
    {
        var loaded = File.ReadLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).Last())
            .FirstOrDefault(p => p.EndsWith("libLibTorchSharp.so", StringComparison.Ordinal));
        using var t = torch.ones([2, 2]) * 3;
        Assert.Equal(12f, t.sum().item<float>());
        loaded ??= File.ReadLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).Last())
            .First(p => p.EndsWith("libLibTorchSharp.so", StringComparison.Ordinal));
        Assert.Equal(Path.Combine(NativeDir, "libLibTorchSharp.so"), loaded);
    }
}
