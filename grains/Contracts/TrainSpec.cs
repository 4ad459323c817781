using System.Text.Json;
using System.Text.Json.Serialization;

namespace GidCluster.Contracts;

/// <summary>
/// Everything one rank process needs to train, as a JSON file every rank of a run reads (the launcher writes it;
/// <c>gid train rank --spec FILE</c> runs it). Rank and world size come from the environment (<c>RANK</c>,
/// <c>WORLD_SIZE</c>, <c>MASTER_ADDR</c>, <c>MASTER_PORT</c>), as with <c>torchrun</c>.
/// </summary>
public sealed record TrainSpec
{
    public static readonly string[] Stages = ["vae", "ldm1", "ldm2", "renderer"];

    /// <summary>
    /// Environment variable naming the address a rank's collective connections bind to (default 127.0.0.1): off one
    /// machine, one the other ranks reach (a pod's IP).
    /// </summary>
    public const string RankAddressVariable = "GID_RANK_ADDR";

    /// <summary><c>vae</c>, <c>ldm1</c>, <c>ldm2</c> or <c>renderer</c>.</summary>
    public required string Stage { get; init; }

    /// <summary>The dataset's manifest (file or folder), local.</summary>
    public required string Dataset { get; init; }

    /// <summary>Where checkpoints go: <c>DIR/step-NNNNNNNN/{vae|ldm|renderer}.pt</c> plus <c>config.json</c>.</summary>
    public required string Output { get; init; }

    /// <summary>A shipped config name (<c>tiny</c>, <c>paper</c>) or a JSON file.</summary>
    public string Config { get; init; } = "tiny";

    /// <summary><c>section.key=value</c> overrides of the config.</summary>
    public string[] Overrides { get; init; } = [];

    /// <summary>Samples per rank per micro-batch.</summary>
    public int BatchSize { get; init; } = 2;

    /// <summary>Micro-batches whose gradients are summed before each optimizer step.</summary>
    public int Accumulate { get; init; } = 1;

    /// <summary>Optimizer steps in the whole run.</summary>
    public long Steps { get; init; } = 100;

    public double LearningRate { get; init; } = 1e-3;

    public long WarmupSteps { get; init; } = 5;

    /// <summary>The cosine ends at this fraction of the learning rate.</summary>
    public double MinLearningRateRatio { get; init; } = 0.1;

    public double WeightDecay { get; init; } = 0.0;

    public double EmaDecay { get; init; } = 0.99;

    /// <summary>A checkpoint every N optimizer steps (and always at the end); 0 = only at the end.</summary>
    public long CheckpointEvery { get; init; } = 50;

    /// <summary>Fixes the initial weights, the data order and every noise draw.</summary>
    public ulong Seed { get; init; }

    /// <summary>Frames are resized to W×H before training (null: as stored). Must be a multiple of the models' down factors.</summary>
    public int[]? FrameSize { get; init; }

    /// <summary>The VAE checkpoint whose frozen encoder makes the latents (ldm1, ldm2).</summary>
    public string? VaeCheckpoint { get; init; }

    /// <summary>The stage-1 checkpoint stage 2 builds on (ldm2).</summary>
    public string? Stage1Checkpoint { get; init; }

    /// <summary>Resume from this checkpoint of the same stage (weights, optimizer, EMA, step, data position).</summary>
    public string? Resume { get; init; }

    /// <summary>
    /// How many data shards the global batch is cut into (default: the world size, one per rank). A single process
    /// with <c>DataShards = 2</c> trains on exactly the samples and noise of a 2-rank run, in one batch of 2×b.
    /// </summary>
    public int? DataShards { get; init; }

    /// <summary>Intra-op threads per rank (null: the cores divided among the ranks).</summary>
    public int? Threads { get; init; }

    /// <summary>
    /// Memory per rank for samples prepared at the frame size and kept across epochs (0: read the shards every epoch).
    /// A dataset that fits is read once: at 64×32 a sample takes about 0.5 MB, at 256×160 about 11 MB.
    /// </summary>
    public int CacheMegabytes { get; init; } = 1024;

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        RespectNullableAnnotations = true,
        WriteIndented = true,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static TrainSpec Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"training spec {path} does not exist", path);
        TrainSpec spec;
        try
        {
            spec = JsonSerializer.Deserialize<TrainSpec>(File.ReadAllText(path), Json) ?? throw new InvalidDataException($"training spec {path} is null");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"training spec {path}: {e.Message}", e);
        }
        spec.Validate();
        return spec;
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad field.</summary>
    public void Validate()
    {
        if (!Stages.Contains(Stage))
            throw new ArgumentException($"stage '{Stage}' is not one of {string.Join(", ", Stages)}");
        if (BatchSize <= 0) throw new ArgumentException($"batch size {BatchSize} must be positive");
        if (Accumulate <= 0) throw new ArgumentException($"accumulate {Accumulate} must be positive");
        if (Steps <= 0) throw new ArgumentException($"steps {Steps} must be positive");
        if (WarmupSteps < 0 || WarmupSteps >= Steps) throw new ArgumentException($"warmup steps {WarmupSteps} must be in 0..steps−1 ({Steps - 1})");
        if (!(LearningRate > 0)) throw new ArgumentException($"learning rate {LearningRate} must be positive");
        if (EmaDecay is < 0 or > 1) throw new ArgumentException($"ema decay {EmaDecay} must be in [0, 1]");
        if (CheckpointEvery < 0) throw new ArgumentException($"checkpoint interval {CheckpointEvery} is negative");
        if (CacheMegabytes < 0)
            throw new ArgumentException($"cache_megabytes {CacheMegabytes} must not be negative");
        if (FrameSize is not null && (FrameSize.Length != 2 || FrameSize[0] <= 0 || FrameSize[1] <= 0))
            throw new ArgumentException("frame size must be [W, H] with positive entries");
        if (DataShards is <= 0) throw new ArgumentException($"data shards {DataShards} must be positive");
        if (Stage is "ldm1" or "ldm2" && string.IsNullOrEmpty(VaeCheckpoint))
            throw new ArgumentException($"stage {Stage} needs the VAE checkpoint (--from a vae run)");
        if (Stage == "ldm2" && string.IsNullOrEmpty(Stage1Checkpoint))
            throw new ArgumentException("stage ldm2 needs the stage-1 checkpoint (--from an ldm1 run)");
    }

    /// <summary>The checkpoint file name of a stage in the model-folder layout.</summary>
    public static string CheckpointFile(string stage) => stage switch
    {
        "vae" => "vae.pt",
        "ldm1" or "ldm2" => "ldm.pt",
        "renderer" => "renderer.pt",
        _ => throw new ArgumentException($"unknown stage '{stage}'"),
    };
}
