using System.Diagnostics;
using System.Globalization;
using GidCluster.Contracts;
using GidCluster.Dataprep.Manifest;
using GidCluster.Dataprep.Shards;
using GidCluster.Training.Checkpoints;
using GidCluster.Training.Data;
using GidCluster.Training.Distributed;
using GidCluster.Training.Models;
using GidCluster.Training.Optim;
using GidCluster.Training.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GidCluster.Training.Trainer;

/// <summary>One optimizer step's figures (loss averaged over all ranks' samples).</summary>
public sealed record StepMetrics(long Step, long Steps, double Loss, double LearningRate, double SamplesPerSecond, double StepsPerSecond);

/// <summary>A checkpoint rank 0 finished writing: the folder and its files (<c>config.json</c>, <c>vae.pt</c>, <c>ldm.pt</c> or <c>renderer.pt</c>).</summary>
public sealed record CheckpointWritten(long Step, string Directory, IReadOnlyList<string> Files);

/// <summary>
/// The training loop of one rank (ARCHITECTURE.md §1.2): its share of each epoch from <see cref="SampleLoader"/>,
/// the stage's loss, gradients averaged over the ranks by <see cref="DistributedDataParallel{T}"/>, gradient
/// accumulation, AdamW with warm-up + cosine, an EMA of the weights, and checkpoints on rank 0 every N steps and
/// at the end. The run is a pure function of the spec: a run resumed from a checkpoint ends bitwise where the
/// uninterrupted run ends (CPU), because the data position and every random draw follow from (seed, step).
/// </summary>
public sealed class Trainer : IDisposable
{
    private readonly TrainSpec _spec;
    private readonly ProcessGroup? _group;
    private readonly ModelConfig _config;
    private readonly List<SampleLoader> _loaders;
    private readonly int _firstShard;
    private readonly nn.Module _model;
    private readonly Func<TrainingBatch, Generator, Tensor> _loss;
    private readonly List<IDisposable> _owned = [];
    private readonly optim.Optimizer _optimizer;
    private readonly ExponentialMovingAverage _ema;
    private readonly Dictionary<string, Tensor> _emaState = [];
    private readonly DistributedDataParallel<nn.Module>? _ddp;
    private readonly TextWriter _log;

    public Trainer(TrainSpec spec, ProcessGroup? group, TextWriter? log = null)
    {
        spec.Validate();
        _spec = spec;
        _group = group;
        _log = log ?? Console.Error;
        var world = group?.Size ?? 1;
        var rank = group?.Rank ?? 0;
        set_num_threads(spec.Threads ?? Math.Max(1, Environment.ProcessorCount / world));
        var (overrides, vgg) = SplitVggOverride(spec.Overrides);
        _config = ModelConfig.Load(spec.Config, overrides);

        var shards = spec.DataShards ?? world;
        if (shards % world != 0)
            throw new ArgumentException($"data shards ({shards}) must be a multiple of the world size ({world})");
        var perRank = shards / world;
        _firstShard = rank * perRank;
        _loaders = Enumerable.Range(_firstShard, perRank).Select(s => SampleLoader.Open(spec.Dataset, new LoaderOptions
        {
            BatchSize = spec.BatchSize,
            Rank = s,
            WorldSize = shards,
            Seed = spec.Seed,
            Split = "train",
            // The renderer takes raw coefficients (what inference's denormalized volumes are; the loader's normalization
            // is only undone approximately in fp32) and images in [0, 1] (the renderer's range), plus one target frame.
            Normalize = spec.Stage != "renderer",
            ImageRange = spec.Stage == "renderer" ? ImageRange.ZeroToOne : ImageRange.MinusOneToOne,
            TargetFrames = spec.Stage == "renderer",
            FrameSize = spec.FrameSize,
            CacheBytes = spec.CacheMegabytes * (1L << 20),
        })).ToList();
        if (_loaders[0].BatchesPerEpoch == 0)
            throw new ArgumentException($"dataset {spec.Dataset} has {_loaders[0].TotalSamples} training samples: too few for {shards} shard(s) × batch {spec.BatchSize}");
        Manifest = _loaders[0].Manifest;

        manual_seed((long)(spec.Seed % long.MaxValue)); // the same initial weights on every rank (DDP also broadcasts rank 0's)
        (_model, var loss) = Build(spec, _config, vgg, PeriodFrames(Manifest, spec.Dataset), _owned, _log);
        // The whole forward pass and loss under the config's precision, backward after it, as with torch.autocast.
        var precision = _config.Precision;
        _loss = (batch, generator) =>
        {
            using var region = Autocast.Enter(precision);
            return loss(batch, generator);
        };
        if (precision != Autocast.Float32Precision)
            _log.WriteLine($"precision: {precision} autocast in the forward pass (weights, optimizer state, EMA and checkpoints float32)");
        var trainable = _model.parameters().Where(p => p.requires_grad).ToList();
        _optimizer = optim.AdamW(trainable, lr: spec.LearningRate, weight_decay: spec.WeightDecay);
        _ema = new ExponentialMovingAverage(_model, spec.EmaDecay);
        var names = _model.named_parameters().Select(p => p.name).ToList();
        for (var i = 0; i < names.Count; i++) _emaState[names[i]] = _ema.Shadow[i];
        foreach (var (name, buffer) in _model.named_buffers()) _emaState[name] = buffer;
        if (spec.Resume is not null)
        {
            Position = TrainingCheckpoint.Load(spec.Resume, _model, _optimizer, _emaState).Step;
            if (Position > spec.Steps)
                throw new ArgumentException($"checkpoint {spec.Resume} is at step {Position}, past the run's {spec.Steps} steps");
        }
        if (group is not null)
            _ddp = new DistributedDataParallel<nn.Module>(_model, group);
    }

    /// <summary>Optimizer steps done.</summary>
    public long Position { get; private set; }

    public DatasetManifest Manifest { get; }

    public nn.Module Model => _model;

    public ModelConfig Config => _config;

    /// <summary>Trains to <see cref="TrainSpec.Steps"/>, calling back after each step and each checkpoint (rank 0 writes them).</summary>
    public void Run(Action<StepMetrics>? onStep = null, Action<CheckpointWritten>? onCheckpoint = null, CancellationToken cancel = default)
    {
        var spec = _spec;
        var microPerEpoch = _loaders[0].BatchesPerEpoch;
        var micro = Position * spec.Accumulate;
        var streams = _loaders.Select(l => Stream(l, (int)(micro / microPerEpoch), (int)(micro % microPerEpoch), cancel).GetEnumerator()).ToList();
        var rank = _group?.Rank ?? 0;
        var progress = new ProgressLine(_log, spec.Steps, rank == 0);
        var samplesPerStep = (double)spec.BatchSize * spec.Accumulate * (spec.DataShards ?? _group?.Size ?? 1);
        var clock = Stopwatch.StartNew();
        var startStep = Position;
        try
        {
            while (Position < spec.Steps)
            {
                cancel.ThrowIfCancellationRequested();
                var lr = spec.LearningRate * WarmupCosine.Factor(Position, spec.WarmupSteps, spec.Steps, spec.MinLearningRateRatio);
                foreach (var g in _optimizer.ParamGroups) g.LearningRate = lr;
                _optimizer.zero_grad();
                var lossSum = 0.0;
                // One Scalar for the whole step rather than one per micro-batch.
                using var microBatches = ((double)(spec.Accumulate * streams.Count)).ToScalar();
                for (var a = 0; a < spec.Accumulate; a++)
                {
                    for (var s = 0; s < streams.Count; s++)
                    {
                        using var scope = NewDisposeScope();
                        if (!streams[s].MoveNext()) throw new InvalidOperationException("the data stream ended"); // Stream is endless
                        var batch = streams[s].Current.ToTrainingBatch();
                        using var generator = new Generator(DrawSeed(spec.Seed, Position, a, _firstShard + s));
                        var loss = _loss(batch, generator);
                        (loss / microBatches).backward();
                        lossSum += loss.item<float>();
                    }
                }
                _ddp?.AverageGradients();
                _optimizer.step();
                _ema.Update();
                Position++;
                var meanLoss = GlobalMean(lossSum / (spec.Accumulate * streams.Count));
                var seconds = clock.Elapsed.TotalSeconds;
                var steps = Position - startStep;
                var metrics = new StepMetrics(Position, spec.Steps, meanLoss, lr, steps * samplesPerStep / seconds, steps / seconds);
                progress.Update(metrics);
                onStep?.Invoke(metrics);
                if (Position == spec.Steps || (spec.CheckpointEvery > 0 && Position % spec.CheckpointEvery == 0))
                {
                    if (rank == 0)
                    {
                        // Saved whether or not anyone listens (`onCheckpoint?.Invoke(Save…)` would skip the save itself).
                        var written = SaveCheckpoint(micro: Position * spec.Accumulate, microPerEpoch);
                        onCheckpoint?.Invoke(written);
                    }
                    _group?.Barrier(); // no rank runs ahead of a checkpoint that a restart would resume from
                }
            }
        }
        finally
        {
            progress.Done();
            foreach (var s in streams) s.Dispose();
        }
    }

    /// <summary>
    /// The loss, without gradients, on this rank's first micro-batch of epoch 0 with fixed draws (the same noise,
    /// timesteps and slices every time it is called), averaged over the ranks: a training-progress figure free of the
    /// draw-to-draw noise of the per-step diffusion loss.
    /// </summary>
    public double FixedBatchLoss()
    {
        var total = 0.0;
        for (var s = 0; s < _loaders.Count; s++)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var batch = _loaders[s].Epoch(0).First().ToTrainingBatch();
            using var generator = new Generator(DrawSeed(_spec.Seed, -1, 0, _firstShard + s));
            total += _loss(batch, generator).item<float>();
        }
        return GlobalMean(total / _loaders.Count);
    }

    /// <summary>
    /// Writes <c>OUTPUT/step-NNNNNNNN/</c>: <c>config.json</c> and <c>dataset.json</c> (what inference needs of the data:
    /// the normalization scales, the bins' frequencies, fps and the trained frame size) first, then the checkpoint
    /// (its presence marks the folder complete).
    /// </summary>
    private CheckpointWritten SaveCheckpoint(long micro, long microPerEpoch)
    {
        var dir = Path.Combine(_spec.Output, StepFolder(Position));
        var config = _config.SaveTo(dir);
        var facts = Path.Combine(dir, DatasetFactsFile);
        File.WriteAllText(facts, DatasetFacts().ToJsonString());
        var file = Path.Combine(dir, TrainSpec.CheckpointFile(_spec.Stage));
        TrainingCheckpoint.Save(file, _model, _optimizer, new TrainingPosition(Position, micro / microPerEpoch, micro % microPerEpoch), _emaState);
        return new CheckpointWritten(Position, dir, [config, facts, file]);
    }

    /// <summary>The file beside each checkpoint with the dataset facts of the model-folder contract.</summary>
    public const string DatasetFactsFile = "dataset.json";

    /// <summary><c>{"scales": [K], "frequencies_hz": [K], "fps", "frame_size": [W, H]}</c>; bin k of an N-frame clip is k·fps/N Hz.</summary>
    private System.Text.Json.Nodes.JsonObject DatasetFacts()
    {
        var prep = Manifest.Config ?? throw new InvalidDataException($"{_spec.Dataset}: the manifest has no dataprep config (fps, clip_frames)");
        var fps = prep["fps"]?.GetValue<double>() ?? throw new InvalidDataException($"{_spec.Dataset}: the manifest's config has no fps");
        var frames = prep["clip_frames"]?.GetValue<int>() ?? throw new InvalidDataException($"{_spec.Dataset}: the manifest's config has no clip_frames");
        var scales = Manifest.Normalization?.Scales ?? throw new InvalidDataException($"{_spec.Dataset}: the manifest has no normalization scales");
        int[] size = _spec.FrameSize ?? [prep["width"]!.GetValue<int>(), prep["height"]!.GetValue<int>()];
        return new System.Text.Json.Nodes.JsonObject
        {
            ["scales"] = new System.Text.Json.Nodes.JsonArray(scales.Select(v => (System.Text.Json.Nodes.JsonNode)(double)v).ToArray()),
            ["frequencies_hz"] = new System.Text.Json.Nodes.JsonArray(Enumerable.Range(0, scales.Length).Select(k => (System.Text.Json.Nodes.JsonNode)(k * fps / frames)).ToArray()),
            ["fps"] = fps,
            ["frame_size"] = new System.Text.Json.Nodes.JsonArray(size[0], size[1]),
        };
    }

    /// <summary>The folder name of a step's checkpoint.</summary>
    public static string StepFolder(long step) => "step-" + step.ToString("D8", CultureInfo.InvariantCulture);

    private double GlobalMean(double local)
    {
        if (_group is null) return local;
        using var t = tensor(new[] { local });
        _group.AllReduce(t, ReduceOp.Average);
        return t.item<double>();
    }

    /// <summary>Each micro-batch's generator seed: SplitMix64 over (seed, step, micro-batch, data shard).</summary>
    public static ulong DrawSeed(ulong seed, long step, int micro, int shard)
    {
        var z = seed;
        foreach (var v in new[] { (ulong)step, (ulong)micro, (ulong)shard })
        {
            z += 0x9E3779B97F4A7C15UL ^ v;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
        }
        return z & long.MaxValue; // torch seeds are taken as int64 by some readers
    }

    /// <summary>The loader's batches epoch after epoch from (epoch, batch), forever.</summary>
    private static IEnumerable<Batch> Stream(SampleLoader loader, int epoch, int skip, CancellationToken cancel)
    {
        for (var e = epoch; ; e++)
        {
            foreach (var batch in loader.Epoch(e, cancel).Skip(e == epoch ? skip : 0))
                yield return batch;
        }
    }

    /// <summary>The override key naming the VGG-16 weights file of the renderer's perceptual loss (not a model setting).</summary>
    public const string VggOverride = "renderer.vgg";

    /// <summary>Takes <c>renderer.vgg=PATH</c> out of the overrides: it names a local file, the rest configure the model.</summary>
    private static (string[] Overrides, string? Vgg) SplitVggOverride(string[] overrides)
    {
        var prefix = VggOverride + "=";
        var vgg = overrides.Where(o => o.StartsWith(prefix, StringComparison.Ordinal)).Select(o => o[prefix.Length..]).LastOrDefault();
        if (vgg is not null && !File.Exists(vgg))
            throw new FileNotFoundException($"{VggOverride}: the VGG-16 weights file {vgg} does not exist", vgg);
        return (overrides.Where(o => !o.StartsWith(prefix, StringComparison.Ordinal)).ToArray(), vgg);
    }

    /// <summary>The motion texture's period N in frames: the dataset's clip length (dataprep's DFT length).</summary>
    private static int PeriodFrames(DatasetManifest manifest, string dataset) =>
        manifest.Config?["clip_frames"]?.GetValue<int>() ?? throw new InvalidDataException($"{dataset}: the manifest's config has no clip_frames");

    /// <summary>Latents kept per rank for the LDM stages: 40 KB per sample at 64×40 (K = 16), 160 KB at 256×160.</summary>
    private const long LatentCacheBytes = 512L << 20;

    private static (nn.Module Model, Func<TrainingBatch, Generator, Tensor> Loss) Build(TrainSpec spec, ModelConfig config, string? vgg, int period, List<IDisposable> owned, TextWriter log)
    {
        switch (spec.Stage)
        {
            case "vae":
                {
                    var vae = new AutoencoderKL(config.Vae);
                    return (vae, (x, g) => StageLosses.Vae(vae, x.Volumes, g));
                }
            case "ldm1":
                {
                    var vae = FrozenVae(spec, config, owned);
                    var schedule = new NoiseSchedule(config.Unet);
                    owned.Add(schedule);
                    var unet = new UNet(config.Unet);
                    var latents = new LatentCache(vae, LatentCacheBytes);
                    owned.Add(latents);
                    return (unet, (x, g) => StageLosses.Stage1(unet, schedule, latents, x.Images, x.Volumes, x.Keys, g));
                }
            case "ldm2":
                {
                    var vae = FrozenVae(spec, config, owned);
                    var schedule = new NoiseSchedule(config.Unet);
                    owned.Add(schedule);
                    var stage1 = new UNet(config.Unet);
                    TrainingCheckpoint.LoadWeights(spec.Stage1Checkpoint!, stage1);
                    var model = new FrequencyCoordinatedUNet(stage1, config.Stage2);
                    var latents = new LatentCache(vae, LatentCacheBytes);
                    owned.Add(latents);
                    return (model, (x, g) => StageLosses.Stage2(model, schedule, latents, x.Images, x.Volumes, x.Keys, g));
                }
            case "renderer":
                {
                    var renderer = new Renderer(config.Renderer);
                    var loss = new RendererLoss(vgg, config.Renderer.PerceptualWeight, log.WriteLine);
                    owned.Add(loss);
                    if (loss.Perceptual)
                        log.WriteLine($"renderer loss: L1 + {config.Renderer.PerceptualWeight} × VGG-16 perceptual ({vgg})");
                    return (renderer, (x, _) => StageLosses.Renderer(renderer, loss, x.Images, x.Volumes,
                        x.Targets ?? throw new InvalidOperationException("the renderer's batch has no target frames"), x.TargetOffsets!, period));
                }
            default:
                throw new ArgumentException($"stage '{spec.Stage}' has no trainer");
        }
    }

    private static AutoencoderKL FrozenVae(TrainSpec spec, ModelConfig config, List<IDisposable> owned)
    {
        var vae = new AutoencoderKL(config.Vae);
        owned.Add(vae);
        foreach (var p in vae.parameters()) p.requires_grad = false;
        TrainingCheckpoint.LoadWeights(spec.VaeCheckpoint!, vae);
        vae.eval();
        return vae;
    }

    public void Dispose()
    {
        _ema.Dispose();
        _optimizer.Dispose();
        _model.Dispose();
        foreach (var o in _owned) o.Dispose();
    }
}
