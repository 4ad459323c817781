using System.CommandLine;
using GidCluster.Contracts;
using GidCluster.Grains.Training;
using GidCluster.Training.Trainer;

namespace GidCluster.Client.Commands;

/// <summary>
/// <c>gid train launch …</c>: asks the cluster's training-run grain to run a stage on N rank processes, started by its
/// silo or (<c>--placement join</c>) by whoever runs <c>gid train join</c> N times, e.g. the pods of the Kubernetes
/// training Job. <c>gid train rank --spec FILE</c>: one rank (RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT set by its
/// starter). The ranks run inside the <c>gid</c> client so TorchSharp's native libraries are not copied into another
/// output folder.
/// </summary>
public static class TrainCommand
{
    public static Command Create() => new("train", "Train a stage of the model (vae, ldm1, ldm2, renderer) through the cluster.") { Launch(), Join(), Rank() };

    private static Command Launch()
    {
        var stage = new Option<string>("--stage") { Description = "vae, ldm1 (--from a vae run), ldm2 (--from an ldm1 run) or renderer (perceptual loss with --set renderer.vgg=FILE).", Required = true };
        stage.AcceptOnlyFromAmong(TrainSpec.Stages);
        var dataset = new Option<string>("--dataset") { Description = "A dataset of the cluster, or a manifest folder on the silo's machine.", Required = true };
        var ranks = new Option<int>("--ranks") { Description = "Rank processes (data parallel, rendezvous on loopback).", DefaultValueFactory = _ => 1 };
        var config = new Option<string>("--config") { Description = "tiny or paper (or a config file on the silo's machine).", DefaultValueFactory = _ => "tiny" };
        var from = new Option<string?>("--from") { Description = "The run this stage builds on." };
        var set = new Option<string[]>("--set") { Description = "Config override section.key=value (repeatable).", AllowMultipleArgumentsPerToken = false };
        var batch = new Option<int>("--batch") { Description = "Samples per rank per step.", DefaultValueFactory = _ => 2 };
        var steps = new Option<long>("--steps") { Description = "Optimizer steps.", DefaultValueFactory = _ => 100 };
        var every = new Option<long>("--checkpoint-every") { Description = "Checkpoint every N steps (and at the end).", DefaultValueFactory = _ => 25 };
        var seed = new Option<ulong>("--seed") { DefaultValueFactory = _ => 1UL };
        var size = new Option<string?>("--frame-size") { Description = "Train at WxH (frames area-resized), e.g. 64x32." };
        var restarts = new Option<int>("--max-restarts") { Description = "Restarts from the last checkpoint after a rank failure.", DefaultValueFactory = _ => 3 };
        var run = new Option<string?>("--run") { Description = "The run id (default: STAGE-yyyyMMdd-HHmmss)." };
        var placement = new Option<string>("--placement")
        {
            Description = "silo: the run grain's silo starts the ranks; join: they are started elsewhere and join with `gid train join --run RUN` (the Kubernetes training Job).",
            DefaultValueFactory = _ => TrainPlacements.Silo,
        };
        placement.AcceptOnlyFromAmong(TrainPlacements.All);
        var command = new Command("launch", "Launch a training run on the cluster.") { stage, dataset, ranks, config, from, set, batch, steps, every, seed, size, restarts, run, placement };
        var cluster = ClusterClient.AddConnectionOption(command);
        command.SetAction((parse, cancel) => Cli.RunAsync("gid train launch", async () =>
        {
            var request = new TrainLaunchRequest(parse.GetValue(stage)!, parse.GetValue(dataset)!, parse.GetValue(ranks), parse.GetValue(config)!,
                parse.GetValue(from), parse.GetValue(set) ?? [], parse.GetValue(batch), parse.GetValue(steps), parse.GetValue(every),
                parse.GetValue(seed), FrameSize(parse.GetValue(size)), parse.GetValue(restarts), parse.GetValue(placement)!);
            var id = parse.GetValue(run) ?? $"{request.Stage}-{DateTime.UtcNow:yyyyMMdd-HHmmss}";
            await using var client = await ClusterClient.ConnectAsync(parse.GetValue(cluster), cancel);
            await client.Grains.GetGrain<ITrainingRunGrain>(id).Launch(request);
            Console.WriteLine(request.Placement == TrainPlacements.Join
                ? $"launched run {id}: {request.Stage}, waiting for {request.Ranks} rank(s) to join with `gid train join --run {id}`; follow it with `gid runs show {id}`"
                : $"launched run {id}: {request.Stage} on {request.Ranks} rank(s); follow it with `gid runs show {id}`");
            return 0;
        }));
        return command;
    }

    private static int[]? FrameSize(string? text)
    {
        if (text is null) return null;
        var parts = text.Split('x');
        return parts.Length == 2 && int.TryParse(parts[0], out var w) && int.TryParse(parts[1], out var h) && w > 0 && h > 0
            ? [w, h] : throw new ArgumentException($"--frame-size '{text}' is not WxH");
    }

    private static Command Join()
    {
        var run = new Option<string>("--run") { Description = "The run to join (launched with --placement join).", Required = true };
        var blob = new Option<string?>("--blob") { Description = "The cluster's blob store (default: $GID_BLOB, else the endpoint file's)." };
        var address = new Option<string?>("--address") { Description = "The address the other ranks reach this one at (default: $POD_IP, else 127.0.0.1)." };
        var wait = new Option<int>("--wait-seconds") { Description = "How long to wait for the launch and for the other ranks before giving up.", DefaultValueFactory = _ => 1800 };
        var command = new Command("join", "Join a training run as one rank (reads RANK, WORLD_SIZE, optional LOCAL_RANK and MASTER_PORT), as the pods of the training Job do.")
            { run, blob, address, wait };
        var cluster = ClusterClient.AddConnectionOption(command);
        command.SetAction((parse, cancel) => Cli.RunAsync("gid train join", async () =>
        {
            var rank = EnvInt("RANK") ?? throw new ArgumentException("RANK is not set: gid train join is one rank of a run (RANK=0..WORLD_SIZE-1)");
            var world = EnvInt("WORLD_SIZE") ?? throw new ArgumentException("WORLD_SIZE is not set: the run's number of ranks");
            if (parse.GetValue(wait) <= 0)
                throw new ArgumentException($"--wait-seconds {parse.GetValue(wait)} must be positive");
            var own = parse.GetValue(address) ?? (Environment.GetEnvironmentVariable("POD_IP") is { Length: > 0 } ip ? ip : "127.0.0.1");
            await using var client = await ClusterClient.ConnectAsync(parse.GetValue(cluster), cancel);
            var joiner = new RankJoiner(parse.GetValue(run)!, rank, world, EnvInt("LOCAL_RANK") ?? 0, own, EnvInt("MASTER_PORT"),
                client.Grains, client.OpenBlobs(parse.GetValue(blob)), Console.Error);
            return await joiner.RunAsync(TimeSpan.FromSeconds(parse.GetValue(wait)), cancel);
        }));
        return command;
    }

    /// <summary>An integer from the environment, or null when unset; anything else is an error naming the variable.</summary>
    private static int? EnvInt(string name) =>
        Environment.GetEnvironmentVariable(name) is not { Length: > 0 } text ? null
        : int.TryParse(text, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var value) && value >= 0 ? value
        : throw new ArgumentException($"{name}={text} is not a non-negative integer");

    private static Command Rank()
    {
        var spec = new Option<string>("--spec") { Description = "The run's training spec (JSON, written by the launcher).", Required = true };
        var exitWithStdin = new Option<bool>("--exit-with-stdin") { Description = "Exit when stdin closes (the launching silo died)." };
        var command = new Command("rank", "Run one rank of a training run (started by the launcher; reads RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT).") { spec, exitWithStdin };
        command.SetAction((parse, cancel) =>
        {
            if (parse.GetValue(exitWithStdin))
                RankProcess.ExitWhenStdinCloses();
            return Task.FromResult(RankProcess.Run(parse.GetValue(spec)!, cancel: cancel));
        });
        return command;
    }
}
