using GidCluster.TestSupport;
using static GidCluster.Cluster.Tests.TrainLaunchTests;

namespace GidCluster.Cluster.Tests;

/// <summary>
/// Ranks that join a run, as the pods of the Kubernetes training Job do: a run launched with <c>--placement join</c> is
/// trained by two <c>gid train join</c> processes, each with its own work folder as on its own machine (rank 1 gets the
/// resume checkpoints from the blob store). Rank 1's training process is SIGKILLed mid-way, and later its whole joiner,
/// which is then started again (Kubernetes recreating the pod). The run grain restarts the attempt both times, and the
/// run ends with weights bitwise equal to those of an uninterrupted run with the same seed whose ranks the silo started.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class TrainJoinTests
{
    [Fact]
    public async Task Joined_ranks_survive_a_killed_rank_and_a_replaced_pod_and_end_as_the_silo_started_run()
    {
        using var data = Paths.NewTempDir("gid-train-join");
        var dataset = MakeDataset(data.Path);
        var state = Path.Combine(data.Path, "state");
        var env = new Dictionary<string, string> { ["GID_DATA"] = state, ["GID_RUNS_DIR"] = Path.Combine(data.Path, "runs") };
        using var up = new SiloProcess("up", ["up", "--port", "0", "--gateway-port", "0", "--silo-port", "0"], program: "gid.dll", environment: env);
        await up.ListeningAsync();
        var clientEnv = new Dictionary<string, string?> { ["GID_DATA"] = state, ["GID_CLUSTER"] = null, ["GID_BLOB"] = null };
        ProgramResult Client(params string[] args) => Programs.Run("dotnet", [Gid, .. args], TimeSpan.FromSeconds(120), environment: clientEnv);

        string[] launch = ["train", "launch", "--stage", "vae", "--dataset", dataset, "--ranks", "2", "--batch", "1", "--steps", "24",
            "--checkpoint-every", "3", "--frame-size", "64x32", "--seed", "5", "--max-restarts", "3"];
        var launched = Client([.. launch, "--run", "joined", "--placement", "join"]);
        Check(launched);
        Assert.Contains("gid train join --run joined", launched.Stdout);
        Check(Client([.. launch, "--run", "clean"]));

        // Rank 1 first, so it waits for rank 0.
        string Folder(int rank) => Path.Combine(data.Path, $"pod-{rank}");
        using var rank1 = Joiner(data.Path, state, "joined", 1);
        await rank1.NextLineAsync("waiting for rank 0", TimeSpan.FromSeconds(60));
        using var rank0 = Joiner(data.Path, state, "joined", 0);
        string Checkpoint(int step) => Path.Combine(Folder(0), "joined", "rank-0", "checkpoints", $"step-{step:D8}", "vae.pt");
        string Describe() => Client("runs", "show", "joined").Combined + rank0.Output + rank1.Output;

        // 1. Rank 1's training process dies: the attempt ends, both ranks join attempt 2.
        await Waits.UntilAsync(() => Task.FromResult(File.Exists(Checkpoint(3))), TimeSpan.FromMinutes(8), Describe);
        var spec1 = Path.Combine(Folder(1), "joined", "rank-1", "spec.json");
        System.Diagnostics.Process.GetProcessById(RankProcess(spec1, rank: 1) ?? throw new InvalidOperationException("rank 1 is not training")).Kill();
        await rank0.NextLineAsync("attempt 2: rank 0 at", TimeSpan.FromMinutes(3));

        // 2. Rank 1's pod is lost (its joiner SIGKILLed; its rank process exits with the joiner) and comes back as a new process.
        var resumedFrom = Directory.GetDirectories(Path.GetDirectoryName(Path.GetDirectoryName(Checkpoint(3)))!).Length;
        await Waits.UntilAsync(() => Task.FromResult(Directory.GetDirectories(Path.GetDirectoryName(Path.GetDirectoryName(Checkpoint(3)))!).Length > resumedFrom),
            TimeSpan.FromMinutes(5), Describe);
        rank1.Kill();
        Assert.False(File.Exists(Checkpoint(24)), "the run ended before the pod could be lost: give it more steps\n" + Describe());
        using var replaced = Joiner(data.Path, state, "joined", 1);
        await replaced.NextLineAsync("attempt 3: rank 0 at", TimeSpan.FromMinutes(3));

        foreach (var run in new[] { "joined", "clean" })
        {
            await Waits.UntilAsync(() => Task.FromResult(!Client("runs", "show", run).Stdout.Contains(": running", StringComparison.Ordinal)),
                TimeSpan.FromMinutes(10), () => Client("runs", "show", run).Combined + rank0.Output + replaced.Output);
        }
        var shown = Client("runs", "show", "joined").Stdout;
        Assert.Contains("run joined: succeeded", shown);
        Assert.Contains("restarts 2", shown);
        Assert.Contains("ranks join (gid train join --run joined): attempt 3, 2 of 2 joined", shown);
        Assert.Contains("checkpoint step 24: runs/joined/step-00000024/config.json", shown);
        Assert.Contains("run clean: succeeded", Client("runs", "show", "clean").Stdout);
        // Both joiners leave with the run, successfully.
        await Waits.UntilAsync(() => Task.FromResult(rank0.HasExited && replaced.HasExited), TimeSpan.FromSeconds(30), Describe);
        Assert.Contains("run joined succeeded", replaced.Output);

        AssertPulledRunsEqual(Client, data.Path, "joined", "clean", step: 24);

        // A rank cannot join a run whose silo starts its ranks, nor a joining run with another world size.
        ProgramResult Join(string run, string world) => Programs.Run("dotnet", [Gid, "train", "join", "--run", run, "--wait-seconds", "5"], TimeSpan.FromSeconds(60),
            environment: new Dictionary<string, string?>(clientEnv) { ["RANK"] = "0", ["WORLD_SIZE"] = world });
        var wrong = Join("clean", "2");
        Assert.Equal(2, wrong.ExitCode);
        Assert.Contains("run clean starts its own ranks on a silo", wrong.Stderr);
        wrong = Join("joined", "3");
        Assert.Equal(2, wrong.ExitCode);
        Assert.Contains("WORLD_SIZE 3 does not match run joined, launched with --ranks 2", wrong.Stderr);
        Assert.Equal(0, up.Terminate(TimeSpan.FromSeconds(30)));
    }

    /// <summary>
    /// The silo holding the run grain dies while joined ranks train (<c>gid up</c> SIGKILLed, then restarted on the same
    /// ports and state): the ranks' processes are not the silo's, so they train on; the joiners' calls fail until the
    /// grain is back, are retried, and the run ends with no restart, bitwise equal to the same run left alone.
    /// </summary>
    [Fact]
    public async Task Joined_ranks_train_through_the_death_of_the_run_grain_s_silo()
    {
        using var data = Paths.NewTempDir("gid-train-join-silo");
        var dataset = MakeDataset(data.Path);
        var state = Path.Combine(data.Path, "state");
        var env = new Dictionary<string, string> { ["GID_DATA"] = state, ["GID_RUNS_DIR"] = Path.Combine(data.Path, "runs") };
        // Fixed ports: the joiners' clients know the gateway only by its address.
        string[] upArgs = ["up", "--port", $"{Loopback.FreePort()}", "--gateway-port", $"{Loopback.FreePort()}", "--silo-port", $"{Loopback.FreePort()}"];
        var clientEnv = new Dictionary<string, string?> { ["GID_DATA"] = state, ["GID_CLUSTER"] = null, ["GID_BLOB"] = null };
        ProgramResult Client(params string[] args) => Programs.Run("dotnet", [Gid, .. args], TimeSpan.FromSeconds(120), environment: clientEnv);
        string[] launch = ["train", "launch", "--stage", "vae", "--dataset", dataset, "--ranks", "2", "--batch", "1", "--steps", "18",
            "--checkpoint-every", "3", "--frame-size", "64x32", "--seed", "5", "--max-restarts", "0", "--placement", "join"];
        string Checkpoint(string run, int step) => Path.Combine(data.Path, "pod-0", run, "rank-0", "checkpoints", $"step-{step:D8}", "vae.pt");

        var first = new SiloProcess("up", upArgs, program: "gid.dll", environment: env);
        await first.ListeningAsync();
        Check(Client([.. launch, "--run", "drill"]));
        using var drill0 = Joiner(data.Path, state, "drill", 0);
        using var drill1 = Joiner(data.Path, state, "drill", 1);
        await Waits.UntilAsync(() => Task.FromResult(File.Exists(Checkpoint("drill", 3))), TimeSpan.FromMinutes(8),
            () => Client("runs", "show", "drill").Combined + drill0.Output + drill1.Output);
        first.Kill();
        first.Dispose();
        await drill0.NextLineAsync("the cluster did not answer", TimeSpan.FromSeconds(60));
        using var second = new SiloProcess("up2", upArgs, program: "gid.dll", environment: env);
        await second.ListeningAsync();

        await Waits.UntilAsync(() => Task.FromResult(drill0.HasExited && drill1.HasExited), TimeSpan.FromMinutes(10),
            () => Client("runs", "show", "drill").Combined + drill0.Output + drill1.Output);
        var shown = Client("runs", "show", "drill").Stdout;
        Assert.True(shown.Contains("run drill: succeeded", StringComparison.Ordinal), shown + drill0.Output + drill1.Output);
        Assert.Contains("restarts 0", shown);
        Assert.Contains("checkpoint step 18: runs/drill/step-00000018/config.json", shown);

        Check(Client([.. launch, "--run", "clean"]));
        using (var clean0 = Joiner(data.Path, state, "clean", 0))
        using (var clean1 = Joiner(data.Path, state, "clean", 1))
        {
            await Waits.UntilAsync(() => Task.FromResult(clean0.HasExited && clean1.HasExited), TimeSpan.FromMinutes(10),
                () => Client("runs", "show", "clean").Combined + clean0.Output + clean1.Output);
        }
        Assert.Contains("run clean: succeeded", Client("runs", "show", "clean").Stdout);
        AssertPulledRunsEqual(Client, data.Path, "drill", "clean", step: 18);
        Assert.Equal(0, second.Terminate(TimeSpan.FromSeconds(30)));
    }

    /// <summary><c>gid train join --run RUN</c> as rank <paramref name="rank"/> of 2, as on its own machine: its own work folder (<c>DIR/pod-RANK</c>).</summary>
    private static SiloProcess Joiner(string dir, string state, string run, int rank) =>
        new($"{run}-{rank}", ["train", "join", "--run", run], program: "gid.dll", environment: new Dictionary<string, string>
        {
            ["GID_DATA"] = state,
            ["GID_RUNS_DIR"] = Path.Combine(dir, $"pod-{rank}"),
            ["RANK"] = $"{rank}",
            ["WORLD_SIZE"] = "2",
        });
}
