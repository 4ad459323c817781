using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using GidCluster.Contracts;
using GidCluster.Grains.Blobs;
using GidCluster.Grains.Work;
using Orleans;

namespace GidCluster.Grains.Training;

/// <summary>
/// A run's folder on the machine of some of its ranks, tied to the blob store and the run grain: the dataset and the
/// upstream checkpoints copied here, the spec every rank there reads, and rank 0's checkpoints published from here
/// (<c>runs/RUN/step-NNNNNNNN/…</c>). Shared by the silo that starts a run's ranks (<see cref="RankSupervisor"/>) and
/// by ranks that join a run from elsewhere (<see cref="RankJoiner"/>).
/// </summary>
public sealed class RunWorkspace(string run, TrainLaunchRequest request, string dir, IGrainFactory grains, IBlobStore blobs)
{
    public string Folder { get; } = Directory.CreateDirectory(dir).FullName;

    /// <summary>Where the ranks write their checkpoints.</summary>
    public string Output => Path.Combine(Folder, "checkpoints");

    private ITrainingRunGrain Grain => grains.GetGrain<ITrainingRunGrain>(run);

    /// <summary>
    /// Starts <c>gid train rank --spec SPEC</c> as rank <paramref name="rank"/> of <paramref name="world"/>, rank 0 serving the
    /// rendezvous at <paramref name="master"/> (HOST:PORT). Its stdin stays open and unwritten: it closes when the
    /// starting process dies, and the rank then exits rather than train on beside the ranks of a restarted attempt.
    /// </summary>
    public static Process StartRank(string spec, int rank, int world, string master, int localRank, string rankAddress)
    {
        var split = master.LastIndexOf(':');
        var start = GidProcess.StartInfo("start rank processes", ["train", "rank", "--spec", spec, "--exit-with-stdin"]);
        start.RedirectStandardInput = true;
        start.Environment["RANK"] = rank.ToString(CultureInfo.InvariantCulture);
        start.Environment["WORLD_SIZE"] = world.ToString(CultureInfo.InvariantCulture);
        start.Environment["MASTER_ADDR"] = master[..split].Trim('[', ']');
        start.Environment["MASTER_PORT"] = master[(split + 1)..];
        start.Environment["LOCAL_RANK"] = localRank.ToString(CultureInfo.InvariantCulture);
        start.Environment[TrainSpec.RankAddressVariable] = rankAddress;
        return Process.Start(start) ?? throw new InvalidOperationException("could not start a rank process");
    }

    /// <summary>Rank 0's stdout: METRIC and CHECKPOINT lines (see <c>RankProcess</c>).</summary>
    public async Task FollowAsync(Process process)
    {
        while (await process.StandardOutput.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("METRIC ", StringComparison.Ordinal))
            {
                var m = JsonNode.Parse(line["METRIC ".Length..])!;
                await GrainRetry.CallAsync(() => Grain.RecordStep(m["Step"]!.GetValue<long>(), m["Loss"]!.GetValue<double>(), m["SamplesPerSecond"]!.GetValue<double>(), m["StepsPerSecond"]!.GetValue<double>()));
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
        await GrainRetry.CallAsync(() => Grain.RecordCheckpoint(step, files));
    }

    /// <summary>Publishes the local checkpoint whose model file is <paramref name="model"/> unless the run grain has its step.</summary>
    public async Task PublishIfMissingAsync(string? model)
    {
        if (model is null) return;
        var folder = Path.GetDirectoryName(model)!;
        var step = long.Parse(Path.GetFileName(folder)["step-".Length..], NumberStyles.Integer, CultureInfo.InvariantCulture);
        if ((await GrainRetry.CallAsync(Grain.ListCheckpoints)).Any(c => c.Step == step)) return;
        await PublishAsync(step, Directory.GetFiles(folder).Where(f => !f.EndsWith(".tmp", StringComparison.Ordinal)).Order(StringComparer.Ordinal));
    }

    /// <summary>The dataset as a local manifest: a folder on this machine, or the named dataset's blobs copied here.</summary>
    public async Task<string> DatasetAsync()
    {
        if (File.Exists(request.Dataset) || Directory.Exists(request.Dataset))
            return Path.GetFullPath(request.Dataset);
        var view = await grains.GetGrain<IDatasetGrain>(request.Dataset).GetView()
            ?? throw new ArgumentException($"dataset '{request.Dataset}' is neither a folder on the silo's machine nor a dataset of this cluster");
        var manifest = view.Result?.ManifestPath ?? throw new ArgumentException($"dataset '{request.Dataset}' has no manifest yet (state {view.State})");
        var prefix = manifest.Contains('/') ? manifest[..(manifest.LastIndexOf('/') + 1)] : "";
        var local = Path.Combine(Folder, "dataset");
        await foreach (var blob in blobs.ListAsync(prefix))
            await DownloadAsync(blob.Path, blob.Sha256, Path.Combine(local, blob.Path[prefix.Length..]));
        return Path.Combine(local, manifest[prefix.Length..]);
    }

    /// <summary>The checkpoints this stage builds on, following <c>--from</c>: (vae.pt, stage-1 ldm.pt).</summary>
    public async Task<(string? Vae, string? Stage1)> UpstreamAsync()
    {
        if (request.Stage is "vae" or "renderer") return (null, null); // the renderer trains on the data alone
        var from = await Latest(request.From!, request.Stage == "ldm1" ? "vae" : "ldm1");
        var file = await DownloadAsync(from.Path, from.Sha256, Path.Combine(Folder, "from", Path.GetFileName(from.Path)));
        if (request.Stage == "ldm1") return (file, null);
        var parent = await grains.GetGrain<ITrainingRunGrain>(request.From!).GetDetails();
        var vae = await Latest(parent!.Launch!.From!, "vae");
        return (await DownloadAsync(vae.Path, vae.Sha256, Path.Combine(Folder, "from", Path.GetFileName(vae.Path))), file);
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
    public string WriteSpec(string dataset, string? vae, string? stage1, string? resume)
    {
        var spec = new TrainSpec
        {
            Stage = request.Stage,
            Dataset = dataset,
            Output = Output,
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
        var path = Path.Combine(Folder, "spec.json");
        File.WriteAllText(path, spec.ToJson());
        return path;
    }

    /// <summary>
    /// The model file of the run's recorded checkpoint at <paramref name="step"/> as a local file: the one rank 0 wrote
    /// here, or its copy from the blob store (sha256 checked) on a machine that did not write it.
    /// </summary>
    public async Task<string> CheckpointAsync(long step)
    {
        var name = TrainSpec.CheckpointFile(request.Stage);
        var folder = Path.Combine(Output, $"step-{step:D8}");
        var local = Path.Combine(folder, name);
        if (File.Exists(local)) return local;
        var recorded = (await GrainRetry.CallAsync(Grain.ListCheckpoints)).FirstOrDefault(c => c.Step == step)
            ?? throw new InvalidOperationException($"run {run} has no checkpoint at step {step}");
        var file = recorded.Files.FirstOrDefault(f => f.Path.EndsWith("/" + name, StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"run {run}: the checkpoint at step {step} has no {name}");
        return await DownloadAsync(file.Path, file.Sha256, local);
    }

    /// <summary>The newest complete local checkpoint (its .pt is written last, atomically), or null.</summary>
    public string? LatestCheckpoint()
    {
        if (!Directory.Exists(Output)) return null;
        var name = TrainSpec.CheckpointFile(request.Stage);
        return Directory.GetDirectories(Output, "step-*").Order(StringComparer.Ordinal)
            .Select(d => Path.Combine(d, name)).LastOrDefault(File.Exists);
    }
}
