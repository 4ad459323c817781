using System.Diagnostics;
using GidCluster.Contracts;
using GidCluster.Grains.Blobs;
using GidCluster.Grains.Work;
using Microsoft.Extensions.Logging;
using Orleans;

namespace GidCluster.Grains.Training;

/// <summary>
/// Runs a training run's ranks as local processes (<c>gid train rank --spec FILE</c>, rendezvous on loopback) and
/// reports to the run grain: rank 0's step figures, and each checkpoint once its files are in the blob store
/// (<c>runs/RUN/step-NNNNNNNN/…</c>). When any rank exits unsuccessfully the others are killed and all restart from
/// the newest local checkpoint, at most <see cref="TrainLaunchRequest.MaxRestarts"/> times; then the run fails.
/// </summary>
public sealed class RankSupervisor(string run, TrainLaunchRequest request, IGrainFactory grains, IBlobStore blobs, ILogger logger)
{
    /// <summary>The local folder of a run's rank processes: spec, dataset copy, checkpoints.</summary>
    public static string WorkDirectory(string run) =>
        Path.Combine(Environment.GetEnvironmentVariable("GID_RUNS_DIR") is { Length: > 0 } d ? d : Path.Combine(Path.GetTempPath(), "gid-runs"), run);

    public static void Validate(TrainLaunchRequest r)
    {
        if (!TrainSpec.Stages.Contains(r.Stage))
            throw new ArgumentException($"stage '{r.Stage}' is not one of {string.Join(", ", TrainSpec.Stages)}");
        if (r.Ranks is < 1 or > 64) throw new ArgumentException($"ranks {r.Ranks} must be in 1..64");
        if (r.Stage is "ldm1" or "ldm2" && string.IsNullOrEmpty(r.From))
            throw new ArgumentException($"stage {r.Stage} needs --from RUN ({(r.Stage == "ldm1" ? "a vae run" : "an ldm1 run")})");
        if (r.MaxRestarts < 0) throw new ArgumentException($"max restarts {r.MaxRestarts} is negative");
        if (!TrainPlacements.All.Contains(r.Placement))
            throw new ArgumentException($"placement '{r.Placement}' is not one of {string.Join(", ", TrainPlacements.All)}");
    }

    /// <summary>The runs supervised by this process: one supervisor per run, whatever activations come and go.</summary>
    private static readonly Dictionary<string, Task> Running = new(StringComparer.Ordinal);

    /// <summary>Starts this supervisor on the thread pool unless its run is supervised in this process already.</summary>
    public bool TryStart(bool resumed)
    {
        lock (Running)
        {
            if (Running.TryGetValue(run, out var task) && !task.IsCompleted)
                return false;
            // Rank processes are long work: supervised on the thread pool, never on the Orleans scheduler.
            Running[run] = Task.Run(() => RunAsync(resumed));
            return true;
        }
    }

    private ITrainingRunGrain Grain => grains.GetGrain<ITrainingRunGrain>(run);

    /// <summary>Runs the ranks to the end; <paramref name="resumed"/> when an earlier supervisor of the run died with its silo.</summary>
    public async Task RunAsync(bool resumed = false)
    {
        try
        {
            var workspace = new RunWorkspace(run, request, WorkDirectory(run), grains, blobs);
            var dataset = await workspace.DatasetAsync();
            var (vae, stage1) = await workspace.UpstreamAsync();
            if (resumed)
            {
                // The ranks of the dead silo exit when their stdin closes; the newest checkpoint they wrote may not be in the blob store yet.
                await workspace.PublishIfMissingAsync(workspace.LatestCheckpoint());
                await Grain.RecordRestart("the silo supervising the run stopped; resumed from the newest checkpoint");
            }
            for (var attempt = 0; ; attempt++)
            {
                var spec = workspace.WriteSpec(dataset, vae, stage1, workspace.LatestCheckpoint());
                var failure = await RunRanksAsync(workspace, spec);
                if (failure is null)
                {
                    await Grain.Finish("succeeded", null);
                    return;
                }
                if (attempt >= request.MaxRestarts)
                {
                    await Grain.Finish("failed", $"{failure} (after {attempt} restart(s))");
                    return;
                }
                logger.LogWarning("run {Run}: {Failure}; restarting all ranks from the last checkpoint", run, failure);
                await Grain.RecordRestart(failure);
            }
        }
        catch (Exception e)
        {
            logger.LogError(e, "run {Run} failed", run);
            try
            {
                await Grain.Finish("failed", e.Message);
            }
            catch (Exception report)
            {
                logger.LogError(report, "run {Run}: could not record the failure", run);
            }
        }
    }

    /// <summary>Starts every rank, follows rank 0's output, and returns null on success or why the attempt failed.</summary>
    private async Task<string?> RunRanksAsync(RunWorkspace workspace, string spec)
    {
        var port = FreePorts.Next();
        var processes = new List<Process>();
        var tails = new List<Queue<string>>();
        var pending = new List<Task>();
        try
        {
            for (var rank = 0; rank < request.Ranks; rank++)
            {
                var process = RunWorkspace.StartRank(spec, rank, request.Ranks, $"127.0.0.1:{port}", localRank: rank, rankAddress: "127.0.0.1");
                processes.Add(process);
                var tail = new Queue<string>();
                tails.Add(tail);
                pending.Add(GidProcess.ReadErrorTailAsync(process, tail));
                pending.Add(rank == 0 ? workspace.FollowAsync(process) : process.StandardOutput.ReadToEndAsync());
            }
            var exits = processes.Select(p => p.WaitForExitAsync()).ToList();
            while (exits.Count > 0)
            {
                var done = await Task.WhenAny(exits);
                exits.Remove(done);
                var failed = processes.FindIndex(p => p.HasExited && p.ExitCode != 0);
                if (failed >= 0)
                {
                    lock (tails[failed])
                        return $"rank {failed} exited with code {processes[failed].ExitCode}: {string.Join(" | ", tails[failed])}";
                }
            }
            await Task.WhenAll(pending); // rank 0's last checkpoint is recorded before the run is called done
            return null;
        }
        finally
        {
            foreach (var p in processes)
            {
                try
                {
                    if (!p.HasExited) p.Kill(entireProcessTree: true);
                }
                catch (InvalidOperationException)
                {
                    // exited meanwhile
                }
                p.Dispose();
            }
        }
    }
}
