using GidCluster.TestSupport;
using static GidCluster.Cluster.Tests.TrainLaunchTests;

namespace GidCluster.Cluster.Tests;

/// <summary>
/// The second resume drill: the silo holding the run grain dies. <c>gid up</c> is SIGKILLed while a 2-rank VAE run
/// trains; its rank processes exit on their own (their stdin closes); a restarted <c>gid up</c> on the same state
/// resumes the run from the newest checkpoint through the grain's reminder, with no client call, and the run ends
/// with weights bitwise equal to an uninterrupted run's.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class TrainSiloKillTests
{
    [Fact]
    public async Task The_silo_running_a_run_killed_mid_run_resumes_it_after_a_restart_and_the_run_ends_as_if_uninterrupted()
    {
        using var data = Paths.NewTempDir("gid-train-silo-kill");
        var dataset = MakeDataset(data.Path);
        var runs = Path.Combine(data.Path, "runs");
        var env = new Dictionary<string, string> { ["GID_DATA"] = Path.Combine(data.Path, "state"), ["GID_RUNS_DIR"] = runs };
        string[] upArgs = ["up", "--port", "0", "--gateway-port", "0", "--silo-port", "0", "--reminder-seconds", "2"];
        var clientEnv = new Dictionary<string, string?> { ["GID_DATA"] = env["GID_DATA"], ["GID_CLUSTER"] = null, ["GID_BLOB"] = null };
        ProgramResult Client(params string[] args) => Programs.Run("dotnet", [Gid, .. args], TimeSpan.FromSeconds(120), environment: clientEnv);
        string[] launch = ["train", "launch", "--stage", "vae", "--dataset", dataset, "--ranks", "2", "--batch", "1", "--steps", "12",
            "--checkpoint-every", "3", "--frame-size", "64x32", "--seed", "5", "--max-restarts", "2"];

        var spec = Path.Combine(runs, "drill", "spec.json");
        using (var first = new SiloProcess("up", upArgs, program: "gid.dll", environment: env))
        {
            await first.ListeningAsync();
            Check(Client([.. launch, "--run", "drill"]));
            await Waits.UntilAsync(() => Task.FromResult(File.Exists(Path.Combine(runs, "drill", "checkpoints", "step-00000003", "vae.pt"))),
                TimeSpan.FromMinutes(8), () => Client("runs", "show", "drill").Combined + first.Output);
            var ranks = new[] { 0, 1 }.Select(r => RankProcess(spec, r) ?? throw new InvalidOperationException($"rank {r} is not running")).ToList();
            first.Kill();
            // Orphaned ranks would keep training beside the restarted ones: they must go by themselves.
            await Waits.UntilAsync(() => Task.FromResult(ranks.All(Gone)), TimeSpan.FromSeconds(60),
                () => $"rank processes {string.Join(", ", ranks.Where(p => !Gone(p)))} still run after their silo died");
        }

        using var second = new SiloProcess("up2", upArgs, program: "gid.dll", environment: env);
        await second.ListeningAsync();
        // No client call: the run grain's reminder activates it, and the activation resumes the run.
        await Waits.UntilAsync(() => Task.FromResult(second.Output.Contains("run drill resumes on this silo", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(90), () => second.Output);
        await Waits.UntilAsync(() => Task.FromResult(!Client("runs", "show", "drill").Stdout.Contains(": running", StringComparison.Ordinal)),
            TimeSpan.FromMinutes(10), () => Client("runs", "show", "drill").Combined + second.Output);
        var drill = Client("runs", "show", "drill").Stdout;
        Assert.Contains("run drill: succeeded", drill);
        Assert.Matches(@"restarts 1\b", drill);
        Assert.Contains("checkpoint step 12: runs/drill/step-00000012/config.json", drill);

        Check(Client([.. launch, "--run", "clean"]));
        await Waits.UntilAsync(() => Task.FromResult(!Client("runs", "show", "clean").Stdout.Contains(": running", StringComparison.Ordinal)),
            TimeSpan.FromMinutes(10), () => Client("runs", "show", "clean").Combined);
        Assert.Contains("run clean: succeeded", Client("runs", "show", "clean").Stdout);
        AssertPulledRunsEqual(Client, data.Path, "drill", "clean", step: 12);
        Assert.Equal(0, second.Terminate(TimeSpan.FromSeconds(30)));
    }

    /// <summary>True when the process has ended (or is a zombie nobody reaped yet).</summary>
    private static bool Gone(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z');
        }
        catch (IOException)
        {
            return true;
        }
    }
}
