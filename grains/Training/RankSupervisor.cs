using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
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
    private static readonly string[] Stages = ["vae", "ldm1", "ldm2", "renderer"];

    /// <summary>The local folder of a run's rank processes: spec, dataset copy, checkpoints.</summary>
    public static string WorkDirectory(string run) =>
        Path.Combine(Environment.GetEnvironmentVariable("GID_RUNS_DIR") is { Length: > 0 } d ? d : Path.Combine(Path.GetTempPath(), "gid-runs"), run);

    public static void Validate(TrainLaunchRequest r)
    {
        if (!Stages.Contains(r.Stage))
            throw new ArgumentException($"stage '{r.Stage}' is not one of {string.Join(", ", Stages)}");
        if (r.Ranks is < 1 or > 64) throw new ArgumentException($"ranks {r.Ranks} must be in 1..64");
        if (r.Stage is "ldm1" or "ldm2" && string.IsNullOrEmpty(r.From))
            throw new ArgumentException($"stage {r.Stage} needs --from RUN ({(r.Stage == "ldm1" ? "a vae run" : "an ldm1 run")})");
        if (r.MaxRestarts < 0) throw new ArgumentException($"max restarts {r.MaxRestarts} is negative");
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
            var dir = Directory.CreateDirectory(WorkDirectory(run)).FullName;
            var dataset = await DatasetAsync(dir);
            var (vae, stage1) = await UpstreamAsync(dir);
            var output = Path.Combine(dir, "checkpoints");
            if (resumed)
            {
                // The ranks of the dead silo exit when their stdin closes; the newest checkpoint they wrote may not be in the blob store yet.
                await PublishIfMissingAsync(LatestCheckpoint(output));
                await Grain.RecordRestart("the silo supervising the run stopped; resumed from the newest checkpoint");
            }
            for (var attempt = 0; ; attempt++)
            {
                var spec = WriteSpec(dir, dataset, output, vae, stage1, LatestCheckpoint(output));
                var failure = await RunRanksAsync(spec);
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
    private async Task<string?> RunRanksAsync(string spec)
    {
        var port = FreePorts.Next();
        var processes = new List<Process>();
        var tails = new List<Queue<string>>();
        var pending = new List<Task>();
        try
        {
            for (var rank = 0; rank < request.Ranks; rank++)
            {
                var start = GidProcess.StartInfo("start rank processes", ["train", "rank", "--spec", spec, "--exit-with-stdin"]);
                // The rank's stdin stays open and unwritten: it closes when this silo dies, and the rank then exits.
                start.RedirectStandardInput = true;
                start.Environment["RANK"] = rank.ToString(CultureInfo.InvariantCulture);
                start.Environment["WORLD_SIZE"] = request.Ranks.ToString(CultureInfo.InvariantCulture);
                start.Environment["MASTER_ADDR"] = "127.0.0.1";
                start.Environment["MASTER_PORT"] = port.ToString(CultureInfo.InvariantCulture);
                start.Environment["LOCAL_RANK"] = rank.ToString(CultureInfo.InvariantCulture);
                var process = Process.Start(start) ?? throw new InvalidOperationException("could not start a rank process");
                processes.Add(process);
                var tail = new Queue<string>();
                tails.Add(tail);
                pending.Add(GidProcess.ReadErrorTailAsync(process, tail));
                pending.Add(rank == 0 ? FollowAsync(process) : process.StandardOutput.ReadToEndAsync());
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

    /// <summary>Rank 0's stdout: METRIC and CHECKPOINT lines (see <c>RankProcess</c>).</summary>
    private async Task FollowAsync(Process process)
    {
        while (await process.StandardOutput.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("METRIC ", StringComparison.Ordinal))
            {
                var m = JsonNode.Parse(line["METRIC ".Length..])!;
                await Grain.RecordStep(m["Step"]!.GetValue<long>(), m["Loss"]!.GetValue<double>(), m["SamplesPerSecond"]!.GetValue<double>(), m["StepsPerSecond"]!.GetValue<double>());
            }
            else if (line.StartsWith("CHECKPOINT ", StringComparison.Ordinal))
            {
                var c = JsonNode.Parse(line["CHECKPOINT ".Length..])!;
                await PublishAsync(c["Step"]!.GetValue<long>(), c["Files"]!.AsArray().Select(f => f!.GetValue<string>()));
            }
        }
    }

    /// <summary>Copies a checkpoint's files to <c>runs/RUN/step-NNNNNNNN/</c> in the blob store and records them with the run grain.</summary>
    private async Task PublishAsync(long step, IEnumerable<string> localFiles)
    {
        var files = new List<CheckpointFileView>();
        foreach (var file in localFiles)
        {
            await using var stream = File.OpenRead(file);
            var info = await blobs.PutAsync($"runs/{run}/{Path.GetFileName(Path.GetDirectoryName(file))}/{Path.GetFileName(file)}", stream);
            files.Add(new CheckpointFileView(info.Path, info.Size, info.Sha256 ?? throw new InvalidOperationException($"the blob store recorded no sha256 for {info.Path}")));
        }
        await Grain.RecordCheckpoint(step, files);
    }

    /// <summary>Publishes the local checkpoint whose model file is <paramref name="model"/> unless the run grain has its step.</summary>
    private async Task PublishIfMissingAsync(string? model)
    {
        if (model is null) return;
        var folder = Path.GetDirectoryName(model)!;
        var step = long.Parse(Path.GetFileName(folder)["step-".Length..], NumberStyles.Integer, CultureInfo.InvariantCulture);
        if ((await Grain.ListCheckpoints()).Any(c => c.Step == step)) return;
        await PublishAsync(step, Directory.GetFiles(folder).Where(f => !f.EndsWith(".tmp", StringComparison.Ordinal)).Order(StringComparer.Ordinal));
    }

    /// <summary>The dataset as a local manifest: a folder on this machine, or the named dataset's blobs copied here.</summary>
    private async Task<string> DatasetAsync(string dir)
    {
        if (File.Exists(request.Dataset) || Directory.Exists(request.Dataset))
            return Path.GetFullPath(request.Dataset);
        var view = await grains.GetGrain<IDatasetGrain>(request.Dataset).GetView()
            ?? throw new ArgumentException($"dataset '{request.Dataset}' is neither a folder on the silo's machine nor a dataset of this cluster");
        var manifest = view.Result?.ManifestPath ?? throw new ArgumentException($"dataset '{request.Dataset}' has no manifest yet (state {view.State})");
        var prefix = manifest.Contains('/') ? manifest[..(manifest.LastIndexOf('/') + 1)] : "";
        var local = Path.Combine(dir, "dataset");
        await foreach (var blob in blobs.ListAsync(prefix))
            await DownloadAsync(blob.Path, blob.Sha256, Path.Combine(local, blob.Path[prefix.Length..]));
        return Path.Combine(local, manifest[prefix.Length..]);
    }

    /// <summary>The checkpoints this stage builds on, following <c>--from</c>: (vae.pt, stage-1 ldm.pt).</summary>
    private async Task<(string? Vae, string? Stage1)> UpstreamAsync(string dir)
    {
        if (request.Stage is "vae" or "renderer") return (null, null); // the renderer trains on the data alone
        var from = await Latest(request.From!, request.Stage == "ldm1" ? "vae" : "ldm1");
        var file = await DownloadAsync(from.Path, from.Sha256, Path.Combine(dir, "from", Path.GetFileName(from.Path)));
        if (request.Stage == "ldm1") return (file, null);
        var parent = await grains.GetGrain<ITrainingRunGrain>(request.From!).GetDetails();
        var vae = await Latest(parent!.Launch!.From!, "vae");
        return (await DownloadAsync(vae.Path, vae.Sha256, Path.Combine(dir, "from", Path.GetFileName(vae.Path))), file);
    }

    /// <summary>The newest checkpoint file of run <paramref name="source"/>, which must be a run of <paramref name="stage"/>.</summary>
    private async Task<CheckpointFileView> Latest(string source, string stage)
    {
        var grain = grains.GetGrain<ITrainingRunGrain>(source);
        var details = await grain.GetDetails() ?? throw new ArgumentException($"--from: no training run '{source}'");
        if (details.Launch?.Stage != stage)
            throw new ArgumentException($"--from {source}: a {request.Stage} run builds on a {stage} run, not a {details.Launch?.Stage ?? "unlaunched"} one");
        var name = TrainSpec.CheckpointFile(stage);
        var checkpoints = await grain.ListCheckpoints();
        return checkpoints.LastOrDefault()?.Files.FirstOrDefault(f => f.Path.EndsWith("/" + name, StringComparison.Ordinal))
            ?? throw new ArgumentException($"--from {source}: the run has no {name} checkpoint yet");
    }

    /// <summary>A blob to a local file through <see cref="BlobFiles"/>, checked against the recorded SHA-256 where there is one.</summary>
    private async Task<string> DownloadAsync(string blob, string? sha256, string target)
    {
        await BlobFiles.DownloadVerifiedAsync(blobs, blob, sha256, target, CancellationToken.None);
        return target;
    }

    /// <summary>The spec every rank reads.</summary>
    private string WriteSpec(string dir, string dataset, string output, string? vae, string? stage1, string? resume)
    {
        var spec = new TrainSpec
        {
            Stage = request.Stage,
            Dataset = dataset,
            Output = output,
            Config = request.Config,
            Overrides = [.. request.Overrides],
            BatchSize = request.BatchSize,
            Steps = request.Steps,
            WarmupSteps = Math.Min(5, request.Steps - 1),
            CheckpointEvery = request.CheckpointEvery,
            Seed = request.Seed,
            VaeCheckpoint = vae,
            Stage1Checkpoint = stage1,
            Resume = resume,
            FrameSize = request.FrameSize is { Count: 2 } size ? [size[0], size[1]] : null,
        };
        var path = Path.Combine(dir, "spec.json");
        File.WriteAllText(path, spec.ToJson());
        return path;
    }

    /// <summary>The newest complete local checkpoint (its .pt is written last, atomically), or null.</summary>
    private string? LatestCheckpoint(string output)
    {
        if (!Directory.Exists(output)) return null;
        var name = TrainSpec.CheckpointFile(request.Stage);
        return Directory.GetDirectories(output, "step-*").Order(StringComparer.Ordinal)
            .Select(d => Path.Combine(d, name)).LastOrDefault(File.Exists);
    }
}
