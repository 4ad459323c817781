using System.Diagnostics;
using System.Net;
using GidCluster.Contracts;
using GidCluster.Grains.Blobs;
using GidCluster.Grains.Work;
using Orleans;

namespace GidCluster.Grains.Training;

/// <summary>
/// One rank of a run launched with placement <c>join</c>, started outside the cluster (<c>gid train join</c> in a pod of
/// the Kubernetes training Job): it joins through the run grain, copies the dataset, upstream and resume checkpoints from
/// the blob store, runs <c>gid train rank</c> as a child process, and beats the grain's heart while it trains. Rank 0
/// serves the rendezvous at <paramref name="address"/> and publishes the checkpoints. When the grain ends the attempt
/// (another rank failed, fell silent or was replaced) the child is killed and the rank joins the next attempt; the
/// process ends with the run (0 when it succeeded).
/// </summary>
public sealed class RankJoiner(string run, int rank, int world, int localRank, string address, int? masterPort,
    IGrainFactory grains, IBlobStore blobs, TextWriter log)
{
    /// <summary>How often a waiting rank asks again, and a training rank reports that it lives.</summary>
    public static readonly TimeSpan Poll = TimeSpan.FromSeconds(1), Beat = TimeSpan.FromSeconds(2);

    /// <summary>This process, for the grain: a rank that joins under another name is a restarted one.</summary>
    private readonly string _joiner = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid():N}";

    private ITrainingRunGrain Grain => grains.GetGrain<ITrainingRunGrain>(run);

    /// <summary>A call on the run grain that rides out a silo's death (the rank's process keeps training meanwhile).</summary>
    private Task<T> Call<T>(Func<Task<T>> call) => GrainRetry.CallAsync(call, m => log.WriteLine($"rank {rank}: {m}"));

    private Task Call(Func<Task> call) => GrainRetry.CallAsync(call, m => log.WriteLine($"rank {rank}: {m}"));

    /// <summary>Trains until the run ends; <paramref name="waitLimit"/> bounds each wait for the launch and the other ranks.</summary>
    public async Task<int> RunAsync(TimeSpan waitLimit, CancellationToken cancel)
    {
        RunWorkspace? workspace = null;
        string? dataset = null;
        (string? Vae, string? Stage1) upstream = default;
        while (true)
        {
            var assignment = await JoinAsync(waitLimit, cancel);
            if (assignment.Status == RankAssignment.Ended)
                return (await Call(Grain.GetView))?.State == "succeeded" ? 0 : 1;
            if (workspace is null)
            {
                workspace = new RunWorkspace(run, assignment.Launch!, Path.Combine(RankSupervisor.WorkDirectory(run), $"rank-{rank}"), grains, blobs);
                dataset = await workspace.DatasetAsync();
                upstream = await workspace.UpstreamAsync();
            }
            var resume = assignment.ResumeStep is { } step ? await workspace.CheckpointAsync(step) : null;
            var spec = workspace.WriteSpec(dataset!, upstream.Vae, upstream.Stage1, resume);
            var (code, error) = await TrainAsync(workspace, spec, assignment, cancel);
            // Before rank 0 joins again: the next attempt resumes from the newest checkpoint the grain has recorded.
            if (rank == 0)
                await workspace.PublishIfMissingAsync(workspace.LatestCheckpoint());
            if (code is null)
                continue; // the grain ended the attempt: join the next one (or hear that the run is over)
            await Call(() => Grain.RankExited(rank, _joiner, assignment.Attempt, code.Value, error));
            if (code == 0)
                await AwaitOthersAsync(assignment.Attempt, cancel);
        }
    }

    /// <summary>Joins and waits for rank 0's address (saying what it waits for whenever that changes).</summary>
    private async Task<RankAssignment> JoinAsync(TimeSpan waitLimit, CancellationToken cancel)
    {
        var started = Stopwatch.StartNew();
        string? said = null;
        // Only the first call of an attempt registers it; the polls after it repeat the same request.
        var master = rank == 0 ? Endpoint(address, masterPort ?? FreePorts.Next()) : null;
        while (true)
        {
            var assignment = await Call(() => Grain.JoinRank(new RankJoinRequest(rank, world, _joiner, master)));
            if (assignment.Message != said)
                log.WriteLine($"rank {rank}: {said = assignment.Message}");
            if (assignment.Status != RankAssignment.Wait)
                return assignment;
            if (started.Elapsed > waitLimit)
                throw new TimeoutException($"rank {rank} waited {waitLimit.TotalSeconds:0} s for run {run}: {assignment.Message}");
            await Task.Delay(Poll, cancel);
        }
    }

    private static string Endpoint(string host, int port) =>
        IPAddress.TryParse(host, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{host}]:{port}" : $"{host}:{port}";

    /// <summary>Runs this rank's process for one attempt: its exit code and last stderr lines, or a null code when the grain ended the attempt.</summary>
    private async Task<(int? Code, string? Error)> TrainAsync(RunWorkspace workspace, string spec, RankAssignment assignment, CancellationToken cancel)
    {
        using var process = RunWorkspace.StartRank(spec, rank, world, assignment.Master!, localRank, address);
        var tail = new Queue<string>();
        var errors = GidProcess.ReadErrorTailAsync(process, tail);
        // Rank 0's METRIC and CHECKPOINT lines go to the grain; the other ranks' output is dropped.
        var output = rank == 0 ? workspace.FollowAsync(process) : process.StandardOutput.BaseStream.CopyToAsync(Stream.Null, CancellationToken.None);
        try
        {
            var exit = process.WaitForExitAsync(cancel);
            while (true)
            {
                if (await Task.WhenAny(exit, Task.Delay(Beat, cancel)) == exit)
                    break;
                cancel.ThrowIfCancellationRequested();
                var order = await Call(() => Grain.RankHeartbeat(rank, _joiner, assignment.Attempt));
                if (order != RankOrders.Continue)
                {
                    log.WriteLine($"rank {rank}: attempt {assignment.Attempt} ended by the run ({order}); stopping this rank's process");
                    process.Kill(entireProcessTree: true);
                    await Task.WhenAll(exit, errors, output);
                    return (null, null);
                }
            }
            await exit;
        }
        catch (OperationCanceledException)
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            // Best effort: the others need not wait for this rank to fall silent.
            await Grain.RankExited(rank, _joiner, assignment.Attempt, 143, "the joining process was stopped");
            throw;
        }
        await Task.WhenAll(errors, output); // rank 0's checkpoints are recorded before its exit is reported
        lock (tail)
            return (process.ExitCode, string.Join(" | ", tail));
    }

    /// <summary>After this rank succeeded: heartbeats until every rank has (the run ends) or another failed (a new attempt).</summary>
    private async Task AwaitOthersAsync(int attempt, CancellationToken cancel)
    {
        while (await Call(() => Grain.RankHeartbeat(rank, _joiner, attempt)) == RankOrders.Continue)
            await Task.Delay(Beat, cancel);
    }
}
