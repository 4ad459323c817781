using System.Threading.Channels;
using GidCluster.Dataprep.Manifest;
using GidCluster.Dataprep.Samples;

namespace GidCluster.Dataprep.Shards;

/// <summary>How image bytes map to floats.</summary>
public enum ImageRange
{
    /// <summary>v / 255.</summary>
    ZeroToOne,

    /// <summary>v / 127.5 − 1 (the latent-diffusion convention; default).</summary>
    MinusOneToOne,
}

public sealed record LoaderOptions
{
    public int BatchSize { get; init; } = 8;

    /// <summary><c>train</c>, <c>test</c>, or null for every sample.</summary>
    public string? Split { get; init; } = "train";

    /// <summary>This process's rank r in 0..WorldSize−1: it gets a disjoint share of each epoch.</summary>
    public int Rank { get; init; }

    public int WorldSize { get; init; } = 1;

    /// <summary>Seeds the shuffle and the flips; with the epoch number it fixes the order exactly.</summary>
    public ulong Seed { get; init; }

    public bool Shuffle { get; init; } = true;

    /// <summary>Probability of mirroring a sample horizontally (0 disables augmentation).</summary>
    public double FlipProbability { get; init; } = 0.5;

    /// <summary>Apply <see cref="SpectralNormalization"/> with the manifest's scales (off: raw coefficients).</summary>
    public bool Normalize { get; init; } = true;

    public ImageRange ImageRange { get; init; } = ImageRange.MinusOneToOne;

    /// <summary>Batches decoded ahead on the background thread.</summary>
    public int PrefetchBatches { get; init; } = 2;

    /// <summary>Row groups loaded together and shuffled as one pool (bounds memory: pool + prefetched batches).</summary>
    public int ShuffleWindowRowGroups { get; init; } = 4;

    /// <summary>Drop the last incomplete batch of an epoch (keeps every rank's batch count equal).</summary>
    public bool DropLast { get; init; } = true;

    /// <summary>
    /// Also carry one target frame per sample (the renderer's I_t), its offset drawn from the sample's stored
    /// <c>target_offsets</c> by the seeded data RNG, so the choice is a pure function of (seed, epoch, rank, position).
    /// </summary>
    public bool TargetFrames { get; init; }

    /// <summary>
    /// Area-resize every sample to <c>[W, H]</c> on load (null keeps the stored size): images, target frames and volumes,
    /// with the displacements rescaled to pixels of the new size before normalization.
    /// </summary>
    public int[]? FrameSize { get; init; }

    /// <summary>
    /// Keep up to this many bytes of prepared samples (decoded, resized, normalized, not mirrored) in memory for later
    /// epochs, so a small dataset is read from its shards once rather than every epoch (0: off).
    /// </summary>
    public long CacheBytes { get; init; }
}

/// <summary>
/// One batch, contiguous and ready for tensor creation.
/// <c>Images</c> is <c>[B, 3, H, W]</c> (channel-major RGB, range per <see cref="ImageRange"/>);
/// <c>Volumes</c> is <c>[B, 16, 4, H, W]</c> float32 (normalized unless turned off).
/// With <see cref="LoaderOptions.TargetFrames"/>, <c>Targets</c> is <c>[B, 3, H, W]</c> like <c>Images</c>: the frame
/// <c>TargetOffsets[b]</c> frames after the start frame (mirrored with its sample).
/// </summary>
public sealed record Batch(int Size, int Height, int Width, float[] Images, float[] Volumes, string[] VideoIds, int[] StartFrames, bool[] Flipped,
    float[]? Targets = null, int[]? TargetOffsets = null);

/// <summary>
/// Loads training batches from the shards a manifest lists. Each epoch's order is a pure function of
/// (seed, epoch): row groups are shuffled, their rows laid end to end, and the sequence cut into
/// <c>WorldSize</c> equal contiguous parts — rank r takes part r, so ranks are disjoint, equally long, and
/// each reads only its own row groups. Within a rank, rows are shuffled inside windows of a few row
/// groups. A background thread decodes ahead into a bounded queue.
/// </summary>
public sealed class SampleLoader
{
    private readonly string _manifestPath;
    private readonly LoaderOptions _options;
    private readonly float[]? _scales;
    private readonly List<RowGroupRef> _rowGroups = [];
    private readonly List<string> _shardPaths = [];
    private readonly List<(long Length, DateTime Written)> _verifiedStamps = [];

    private sealed record RowGroupRef(int Shard, int RowGroup, int[] Rows);

    /// <summary>
    /// One sample as batches take it, before mirroring: CHW image, <c>[16, 4, H, W]</c> volume, every target frame (CHW,
    /// when asked for). Kept per (shard, row group, row) while the cache has room.
    /// </summary>
    private sealed record Prepared(string VideoId, int StartFrame, int Height, int Width, float[] Image, float[] Volume, float[][]? Targets, int[] TargetOffsets)
    {
        public long Bytes => 4L * (Image.Length + Volume.Length + (Targets?.Sum(t => (long)t.Length) ?? 0));
    }

    private readonly Dictionary<(int Shard, int RowGroup, int Row), Prepared> _cache = [];
    private long _cachedBytes;

    private SampleLoader(string manifestPath, DatasetManifest manifest, LoaderOptions options)
    {
        _manifestPath = manifestPath;
        _options = options;
        if (options.BatchSize <= 0) throw new ArgumentException($"batch size {options.BatchSize} must be positive");
        if (options.WorldSize <= 0 || options.Rank < 0 || options.Rank >= options.WorldSize)
            throw new ArgumentException($"rank {options.Rank} is not within world size {options.WorldSize}");
        if (options.PrefetchBatches <= 0 || options.ShuffleWindowRowGroups <= 0)
            throw new ArgumentException("prefetch and shuffle window must be positive");
        if (options.FrameSize is not (null or [> 0, > 0]))
            throw new ArgumentException($"frame size [{string.Join(", ", options.FrameSize)}] must be [W, H], both positive");
        if (options.CacheBytes < 0)
            throw new ArgumentException($"cache size {options.CacheBytes} must not be negative");
        if (options.Split is not (null or "train" or "test"))
            throw new ArgumentException($"split '{options.Split}' must be train, test or null");
        if (options.Normalize)
        {
            _scales = manifest.Normalization?.Scales
                ?? throw new ManifestException(manifestPath, "has no normalization scales; produce them (gid dataprep) or load with Normalize = false");
        }
        Manifest = manifest;
        foreach (var shard in manifest.Shards)
        {
            var path = ManifestFile.ShardPath(manifestPath, shard);
            _shardPaths.Add(path);
            _verifiedStamps.Add(Stamp(path));
            using var reader = ManifestFile.OpenShard(manifestPath, shard);
            for (var g = 0; g < reader.RowGroupCount; g++)
            {
                var rows = options.Split == null
                    ? Enumerable.Range(0, (int)reader.RowGroupRows(g)).ToArray()
                    : reader.ReadSplits(g).Select((s, i) => (s, i)).Where(x => x.s == options.Split).Select(x => x.i).ToArray();
                if (rows.Length > 0)
                    _rowGroups.Add(new RowGroupRef(_shardPaths.Count - 1, g, rows));
            }
        }
        TotalSamples = _rowGroups.Sum(g => g.Rows.Length);
        SamplesPerRank = TotalSamples / options.WorldSize;
        BatchesPerEpoch = options.DropLast ? SamplesPerRank / options.BatchSize : (SamplesPerRank + options.BatchSize - 1) / options.BatchSize;
    }

    /// <summary>Opens the manifest (a file or its folder) and indexes the samples of the requested split.</summary>
    public static SampleLoader Open(string manifestPath, LoaderOptions? options = null)
    {
        if (Directory.Exists(manifestPath))
            manifestPath = Path.Combine(manifestPath, ManifestFile.FileName);
        var manifest = ManifestFile.Read(manifestPath);
        options ??= new LoaderOptions();
        return new SampleLoader(manifestPath, manifest, options);
    }

    public DatasetManifest Manifest { get; }

    /// <summary>Samples of the requested split across all ranks.</summary>
    public int TotalSamples { get; }

    /// <summary>Samples each rank sees per epoch (⌊total / world⌋; the remainder is left out of that epoch).</summary>
    public int SamplesPerRank { get; }

    public int BatchesPerEpoch { get; }

    /// <summary>The (shard, row group, row) sequence this rank visits in an epoch, before per-window shuffling — exposed for tests and tools.</summary>
    public IReadOnlyList<(int Shard, int RowGroup, int Row)> RankSequence(int epoch) => Plan(epoch).SelectMany(w => w).ToList();

    /// <summary>This rank's samples for the epoch in the order they are batched (windows shuffled).</summary>
    private List<List<(int Shard, int RowGroup, int Row)>> Plan(int epoch)
    {
        var order = _rowGroups.ToList();
        if (_options.Shuffle)
            ShuffleInPlace(order, new SplitMix64(Mix(_options.Seed, (ulong)epoch, 0x5248_4F57_5347_5250UL)));
        var flat = order.SelectMany(g => g.Rows.Select(r => (g.Shard, g.RowGroup, Row: r))).ToList();
        var mine = flat.Skip(_options.Rank * SamplesPerRank).Take(SamplesPerRank).ToList();
        // Windows: consecutive runs covering up to ShuffleWindowRowGroups distinct row groups.
        var windows = new List<List<(int, int, int)>>();
        var current = new List<(int, int, int)>();
        var groups = new HashSet<(int, int)>();
        foreach (var item in mine)
        {
            if (!groups.Contains((item.Shard, item.RowGroup)) && groups.Count == _options.ShuffleWindowRowGroups)
            {
                windows.Add(current);
                current = [];
                groups.Clear();
            }
            groups.Add((item.Shard, item.RowGroup));
            current.Add(item);
        }
        if (current.Count > 0)
            windows.Add(current);
        if (_options.Shuffle)
        {
            for (var w = 0; w < windows.Count; w++)
                ShuffleInPlace(windows[w], new SplitMix64(Mix(_options.Seed, (ulong)epoch, (ulong)_options.Rank << 32 | (uint)w)));
        }
        return windows;
    }

    /// <summary>
    /// The batches of one epoch for this rank, decoded on a background thread at most
    /// <see cref="LoaderOptions.PrefetchBatches"/> ahead. Stopping the enumeration stops the thread.
    /// </summary>
    public IEnumerable<Batch> Epoch(int epoch, CancellationToken cancellation = default)
    {
        var channel = Channel.CreateBounded<Batch>(new BoundedChannelOptions(_options.PrefetchBatches)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var producer = Task.Factory.StartNew(() => Produce(epoch, channel.Writer, stop.Token), stop.Token,
            TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try
        {
            while (true)
            {
                Batch? batch;
                try
                {
                    if (!channel.Reader.WaitToReadAsync(stop.Token).AsTask().GetAwaiter().GetResult())
                        break;
                }
                catch (ChannelClosedException e) when (e.InnerException != null)
                {
                    throw e.InnerException;
                }
                if (!channel.Reader.TryRead(out batch))
                    continue;
                yield return batch;
            }
            producer.GetAwaiter().GetResult(); // surfaces a producer failure
        }
        finally
        {
            stop.Cancel();
            try
            {
                producer.Wait(TimeSpan.FromSeconds(30));
            }
            catch (AggregateException)
            {
                // already surfaced above, or the enumeration was abandoned
            }
        }
    }

    private void Produce(int epoch, ChannelWriter<Batch> writer, CancellationToken token)
    {
        var readers = new Dictionary<int, ShardReader>();
        try
        {
            var pending = new List<(Prepared Sample, bool Flip, int Target)>();
            var index = 0L;
            foreach (var window in Plan(epoch))
            {
                var loaded = new Dictionary<(int, int), IReadOnlyList<Sample>>();
                foreach (var (shard, group, row) in window)
                {
                    if (loaded.ContainsKey((shard, group)) || Cached((shard, group, row)) is not null)
                        continue;
                    if (!readers.TryGetValue(shard, out var reader))
                        readers[shard] = reader = OpenVerified(shard);
                    loaded[(shard, group)] = reader.ReadRowGroup(group);
                    CollectGarbage();
                    token.ThrowIfCancellationRequested();
                }
                foreach (var (shard, group, row) in window)
                {
                    var flip = _options.FlipProbability > 0
                        && new SplitMix64(Mix(_options.Seed, (ulong)epoch, 0x464C_4950UL ^ ((ulong)_options.Rank << 40) ^ (ulong)index)).NextDouble() < _options.FlipProbability;
                    var sample = Cached((shard, group, row));
                    if (sample is null)
                    {
                        sample = Prepare(loaded[(shard, group)][row]);
                        Keep((shard, group, row), sample);
                    }
                    var target = -1;
                    if (_options.TargetFrames)
                    {
                        if (sample.TargetOffsets.Length == 0)
                            throw new InvalidDataException($"{_manifestPath}: sample {sample.VideoId}@{sample.StartFrame} has no target frames (the renderer needs them)");
                        target = (int)new SplitMix64(Mix(_options.Seed, (ulong)epoch, 0x5441_5247UL ^ ((ulong)_options.Rank << 40) ^ (ulong)index)).NextBelow((ulong)sample.TargetOffsets.Length);
                    }
                    index++;
                    pending.Add((sample, flip, target));
                    if (pending.Count == _options.BatchSize)
                    {
                        writer.WriteAsync(Collate(pending), token).AsTask().GetAwaiter().GetResult();
                        pending.Clear();
                    }
                }
            }
            if (pending.Count > 0 && !_options.DropLast)
                writer.WriteAsync(Collate(pending), token).AsTask().GetAwaiter().GetResult();
            writer.Complete();
        }
        catch (OperationCanceledException)
        {
            writer.TryComplete();
        }
        catch (Exception e)
        {
            writer.TryComplete(e);
        }
        finally
        {
            foreach (var r in readers.Values)
                r.Dispose();
        }
    }

    /// <summary>
    /// Bounds the loader's memory by design rather than by the GC's timing. What is live is bounded by the options:
    /// the window's samples (<see cref="LoaderOptions.ShuffleWindowRowGroups"/> row groups), the batches in flight
    /// (<see cref="LoaderOptions.PrefetchBatches"/> queued, one being filled, one held by the consumer) and the row
    /// group being decoded. The garbage is not: every read and every batch is large-object garbage, which the GC
    /// collects only when a budget that grows with the live data runs out, so peak RSS reached about twice the live
    /// data (1.2–2 GB on a 1.1 GB dataset). A blocking collection after each row group read caps the garbage at one
    /// read's buffers plus the batches consumed meanwhile; this heap is a few thousand objects, mostly reference-free
    /// arrays, so it takes milliseconds against the read's hundreds.
    /// </summary>
    private static void CollectGarbage() => GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: false);

    /// <summary>
    /// Every shard's SHA-256 was checked when the loader opened; a shard whose size or write time changed since is
    /// checked again before its rows are used (hashing every shard every epoch would add a full read per epoch).
    /// </summary>
    private ShardReader OpenVerified(int shard)
    {
        var path = _shardPaths[shard];
        var stamp = Stamp(path);
        if (stamp == _verifiedStamps[shard])
            return ShardReader.Open(path);
        var reader = ManifestFile.OpenShard(_manifestPath, Manifest.Shards[shard]);
        _verifiedStamps[shard] = stamp;
        return reader;
    }

    private static (long, DateTime) Stamp(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? (info.Length, info.LastWriteTimeUtc) : (-1, default);
    }

    private Batch Collate(List<(Prepared Sample, bool Flip, int Target)> items)
    {
        var first = items[0].Sample;
        int h = first.Height, w = first.Width;
        foreach (var (s, _, _) in items)
        {
            if (s.Height != h || s.Width != w)
                throw new InvalidDataException($"{_manifestPath}: samples of different sizes in one batch: {first.VideoId}@{first.StartFrame} is {w}x{h}, {s.VideoId}@{s.StartFrame} is {s.Width}x{s.Height}");
        }
        var pixels = h * w;
        var volumeSize = SpectralNormalization.Bins * 4 * pixels;
        var images = new float[items.Count * 3 * pixels];
        var volumes = new float[items.Count * volumeSize];
        var targets = _options.TargetFrames ? new float[items.Count * 3 * pixels] : null;
        for (var b = 0; b < items.Count; b++)
        {
            var (s, flip, target) = items[b];
            Mirror(s.Image, images.AsSpan(b * 3 * pixels, 3 * pixels), 3, h, w, flip, negate: 0);
            // Mirroring the picture reverses horizontal motion: Re x and Im x (channels 0 and 1 of each bin) change sign.
            for (var k = 0; k < SpectralNormalization.Bins; k++)
                Mirror(s.Volume.AsSpan(k * 4 * pixels, 4 * pixels), volumes.AsSpan(b * volumeSize + k * 4 * pixels, 4 * pixels), 4, h, w, flip, negate: flip ? 2 : 0);
            if (targets is not null)
                Mirror(s.Targets![target], targets.AsSpan(b * 3 * pixels, 3 * pixels), 3, h, w, flip, negate: 0);
        }
        return new Batch(items.Count, h, w, images, volumes,
            items.Select(i => i.Sample.VideoId).ToArray(),
            items.Select(i => i.Sample.StartFrame).ToArray(),
            items.Select(i => i.Flip).ToArray(),
            targets,
            targets is null ? null : items.Select(i => i.Sample.TargetOffsets[i.Target]).ToArray());
    }

    /// <summary>Copies <paramref name="channels"/> planes, reversed along W when <paramref name="flip"/>, the first <paramref name="negate"/> planes negated.</summary>
    private static void Mirror(ReadOnlySpan<float> src, Span<float> dest, int channels, int h, int w, bool flip, int negate)
    {
        if (!flip)
        {
            src[..(channels * h * w)].CopyTo(dest);
            return;
        }
        for (var c = 0; c < channels; c++)
        {
            var sign = c < negate ? -1f : 1f;
            for (var y = 0; y < h; y++)
            {
                var row = (c * h + y) * w;
                for (var x = 0; x < w; x++)
                    dest[row + x] = sign * src[row + w - 1 - x];
            }
        }
    }

    /// <summary>The prepared sample if the cache holds it (epochs enumerated at once share the cache, hence the lock).</summary>
    private Prepared? Cached((int, int, int) key)
    {
        lock (_cache)
            return _cache.GetValueOrDefault(key);
    }

    private void Keep((int, int, int) key, Prepared sample)
    {
        lock (_cache)
        {
            if (_cachedBytes + sample.Bytes <= _options.CacheBytes && _cache.TryAdd(key, sample))
                _cachedBytes += sample.Bytes;
        }
    }

    /// <summary>
    /// Decodes one sample for batching: HWC RGB8 → CHW floats (range per <see cref="LoaderOptions.ImageRange"/>), fp16
    /// volume → floats, both area-resized to <see cref="LoaderOptions.FrameSize"/> (displacements scaled to the new
    /// pixels), then normalized per bin.
    /// </summary>
    private Prepared Prepare(Sample s)
    {
        var (w, h) = _options.FrameSize is [var fw, var fh] ? (fw, fh) : (s.Width, s.Height);
        var pixels = s.Width * s.Height;
        var (scale, offset) = _options.ImageRange == ImageRange.ZeroToOne ? (1f / 255f, 0f) : (1f / 127.5f, -1f);
        float[] Image(ReadOnlySpan<byte> rgb)
        {
            var chw = new float[3 * pixels];
            for (var p = 0; p < pixels; p++)
            {
                chw[p] = rgb[p * 3] * scale + offset;
                chw[pixels + p] = rgb[p * 3 + 1] * scale + offset;
                chw[2 * pixels + p] = rgb[p * 3 + 2] * scale + offset;
            }
            return AreaResize.Planes(chw, 3, s.Height, s.Width, h, w);
        }
        var raw = new float[s.SpectralVolume.Length];
        for (var i = 0; i < raw.Length; i++)
            raw[i] = (float)s.SpectralVolume[i];
        var volume = AreaResize.Volume(raw, s.Height, s.Width, h, w);
        if (_scales != null)
            SpectralNormalization.Normalize(volume, volume, _scales);
        var targets = _options.TargetFrames
            ? Enumerable.Range(0, s.TargetOffsets.Length).Select(t => Image(s.TargetFrames.AsSpan(t * 3 * pixels, 3 * pixels))).ToArray()
            : null;
        return new Prepared(s.VideoId, s.StartFrame, h, w, Image(s.Image), volume, targets, s.TargetOffsets);
    }

    private static void ShuffleInPlace<T>(IList<T> list, SplitMix64 rng)
    {
        for (var i = list.Count - 1; i > 0; i--)
        {
            var j = (int)rng.NextBelow((ulong)(i + 1));
            (list[i], list[j]) = (list[j], list[i]);
        }
    }

    private static ulong Mix(ulong a, ulong b, ulong c) =>
        new SplitMix64(a ^ new SplitMix64(b ^ new SplitMix64(c).Next()).Next()).Next();

    /// <summary>SplitMix64: a tiny PRNG whose sequence is fixed by its definition (System.Random's may change between .NET versions).</summary>
    private sealed class SplitMix64(ulong state)
    {
        private ulong _state = state;

        public ulong Next()
        {
            var z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        public ulong NextBelow(ulong bound) => (ulong)(Next() / 18446744073709551616.0 * bound) % bound;

        public double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));
    }
}
