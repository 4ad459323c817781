using System.Text;
using GidCluster.TestSupport;

namespace GidCluster.Cluster.Tests;

/// <summary>
/// The resume drill through the cluster: <c>gid up</c>, a real dataset (<c>gid synth --corpus</c> + <c>gid dataprep</c>),
/// two 2-rank VAE runs launched with <c>gid train launch</c> with the same seed; one rank of the first is SIGKILLed
/// mid-way. The run grain restarts both ranks from the last checkpoint, and the run ends with weights (model and EMA)
/// bitwise equal to the uninterrupted run's, as <c>gid checkpoints pull</c> fetches them from the blob store.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class TrainLaunchTests
{
    internal static readonly string Gid = Path.Combine(AppContext.BaseDirectory, "gid.dll");

    [Fact]
    public async Task A_rank_killed_mid_run_is_restarted_from_the_last_checkpoint_and_the_run_ends_as_if_uninterrupted()
    {
        using var data = Paths.NewTempDir("gid-train-launch");
        var dataset = MakeDataset(data.Path);

        var state = Path.Combine(data.Path, "state");
        var runs = Path.Combine(data.Path, "runs");
        var env = new Dictionary<string, string> { ["GID_DATA"] = state, ["GID_RUNS_DIR"] = runs };
        using var up = new SiloProcess("up", ["up", "--port", "0", "--gateway-port", "0", "--silo-port", "0"], program: "gid.dll", environment: env);
        await up.ListeningAsync();
        var clientEnv = new Dictionary<string, string?> { ["GID_DATA"] = state, ["GID_CLUSTER"] = null, ["GID_BLOB"] = null };
        ProgramResult Client(params string[] args) => Programs.Run("dotnet", [Gid, .. args], TimeSpan.FromSeconds(120), environment: clientEnv);

        string[] launch = ["train", "launch", "--stage", "vae", "--dataset", dataset, "--ranks", "2", "--batch", "1", "--steps", "12",
            "--checkpoint-every", "3", "--frame-size", "64x32", "--seed", "5", "--max-restarts", "2"];
        Check(Client([.. launch, "--run", "drill"]));
        Check(Client([.. launch, "--run", "clean"]));

        // Kill rank 1 of the drill once a checkpoint exists and the run is past it.
        var spec = Path.Combine(runs, "drill", "spec.json");
        await Waits.UntilAsync(() => Task.FromResult(File.Exists(Path.Combine(runs, "drill", "checkpoints", "step-00000003", "vae.pt"))),
            TimeSpan.FromMinutes(8), () => Client("runs", "show", "drill").Combined + up.Output);
        var victim = RankProcess(spec, rank: 1) ?? throw new InvalidOperationException("rank 1 of the drill is not running");
        System.Diagnostics.Process.GetProcessById(victim).Kill(); // SIGKILL

        foreach (var run in new[] { "drill", "clean" })
        {
            await Waits.UntilAsync(() => Task.FromResult(!Client("runs", "show", run).Stdout.Contains(": running", StringComparison.Ordinal)),
                TimeSpan.FromMinutes(10), () => Client("runs", "show", run).Combined);
        }
        var drill = Client("runs", "show", "drill");
        Assert.Contains("run drill: succeeded", drill.Stdout);
        Assert.Matches(@"restarts [12]\b", drill.Stdout);
        Assert.Contains("step 12,", drill.Stdout);
        Assert.Contains("samples/s", drill.Stdout);
        Assert.Contains("checkpoint step 12: runs/drill/step-00000012/config.json", drill.Stdout);
        Assert.Contains("run clean: succeeded", Client("runs", "show", "clean").Stdout);
        Assert.Contains("drill", Client("runs").Stdout);

        AssertPulledRunsEqual(Client, data.Path, "drill", "clean", step: 12);
        Assert.Equal(0, up.Terminate(TimeSpan.FromSeconds(30)));
    }

    /// <summary>A small real dataset: <c>gid synth --corpus</c> (4 videos) through <c>gid dataprep</c>; returns its folder.</summary>
    internal static string MakeDataset(string dir)
    {
        var corpus = Path.Combine(dir, "corpus");
        Check(Programs.Run("dotnet", [Gid, "synth", "--corpus", "--out", corpus, "--seed", "11", "--count", "4", "--frames", "170"], TimeSpan.FromMinutes(5)));
        var dataset = Path.Combine(dir, "dataset");
        Check(Programs.Run("dotnet", [Gid, "dataprep", Path.Combine(corpus, "videos"), "--out", dataset, "--max-clips", "3", "--workers", "2", "--method", "dis-ultrafast"], TimeSpan.FromMinutes(5)));
        return dataset;
    }

    /// <summary>Pulls both VAE runs with <c>gid checkpoints pull</c> and compares their weights (see <see cref="AssertSameWeights"/>).</summary>
    internal static void AssertPulledRunsEqual(Func<string[], ProgramResult> client, string dir, string a, string b, int step)
    {
        foreach (var run in new[] { a, b })
            Check(client(["checkpoints", "pull", run, "--out", Path.Combine(dir, "pulled-" + run)]));
        AssertSameWeights(Path.Combine(dir, "pulled-" + a, "vae.pt"), Path.Combine(dir, "pulled-" + b, "vae.pt"), step);
    }

    /// <summary>Compared in python3-torch: both files load with torch.load, and every tensor of 'model' and 'ema' is equal.</summary>
    internal static void AssertSameWeights(string a, string b, int step)
    {
        var compare = Programs.RunPython("""
            import sys, torch
            a, b = (torch.load(p, weights_only=False) for p in sys.argv[1:3])
            n = 0
            for part in ('model', 'ema'):
                assert a[part].keys() == b[part].keys(), part
                for k in a[part]:
                    assert torch.equal(a[part][k], b[part][k]), f'{part} {k} differs'
                    n += 1
            assert a['step'] == b['step'] == int(sys.argv[3])
            print(f'equal {n}')
            """, [a, b, step.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        Assert.Matches(@"^equal \d{2,}", compare);
    }

    internal static void Check(ProgramResult result) => Assert.True(result.ExitCode == 0, result.Combined);

    /// <summary>The pid of the rank process running <paramref name="spec"/> with RANK=<paramref name="rank"/>, from /proc.</summary>
    internal static int? RankProcess(string spec, int rank)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0');
                if (!cmdline.Contains(spec) || !cmdline.Contains("rank")) continue;
                var environ = Encoding.UTF8.GetString(File.ReadAllBytes(Path.Combine(dir, "environ"))).Split('\0');
                if (environ.Contains($"RANK={rank}")) return pid;
            }
            catch (IOException)
            {
                // the process ended while we looked
            }
            catch (UnauthorizedAccessException)
            {
                // not ours
            }
        }
        return null;
    }
}
