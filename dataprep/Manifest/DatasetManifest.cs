using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using GidCluster.Dataprep.Samples;
using GidCluster.Dataprep.Shards;

namespace GidCluster.Dataprep.Manifest;

/// <summary>
/// <c>manifest.json</c>: what a dataprep run produced. Shard paths are relative to the manifest's folder.
/// Written with snake_case keys; see <see cref="ManifestFile"/> for reading (with validation) and checksum verification.
/// </summary>
public sealed record DatasetManifest(
    int SchemaVersion,
    DateTimeOffset CreatedUtc,
    IReadOnlyList<ShardInfo> Shards,
    SplitInfo Split,
    NormalizationInfo? Normalization,
    JsonObject? Config)
{
    /// <summary>Manifest format version (bumped with <see cref="ShardSchema.Version"/> or manifest changes).</summary>
    public const int CurrentSchemaVersion = 1;

    public long TotalRows => Shards.Sum(s => s.Rows);

    /// <summary>A manifest for shards written from the given videos, with the split decided per video.</summary>
    public static DatasetManifest Create(IReadOnlyList<ShardInfo> shards, IEnumerable<string> videoIds, NormalizationInfo? normalization,
        JsonObject? config = null, double testFraction = DatasetSplit.DefaultTestFraction) =>
        new(CurrentSchemaVersion, DateTimeOffset.UtcNow, shards, DatasetSplit.Describe(videoIds, testFraction), normalization, config);
}

/// <summary>The train/test split: which videos went where, and how that was decided.</summary>
public sealed record SplitInfo(string Method, double TestFraction, IReadOnlyList<string> TrainVideos, IReadOnlyList<string> TestVideos);

/// <summary>Normalization scales s_k (one per frequency bin) and how they were estimated.</summary>
/// <param name="Scales">s_k for k = 0..15: the per-bin percentile of |S| over the training split.</param>
/// <param name="Percentile">Which percentile (95 in the paper).</param>
/// <param name="Sketch">The statistics sketch's parameters (e.g. histogram bounds and bins), as the statistics code describes them.</param>
public sealed record NormalizationInfo(float[] Scales, double Percentile, JsonObject? Sketch);

/// <summary>
/// Deterministic split by video (never by clip, so clips of one video never straddle train and test):
/// a video is <c>test</c> when the first 8 bytes of SHA-256(UTF-8 video id), read as a big-endian
/// unsigned integer and divided by 2^64, fall below the test fraction. Stable across runs, machines and languages.
/// </summary>
public static class DatasetSplit
{
    public const double DefaultTestFraction = 0.1;

    public const string Method = "sha256(utf8(video_id))[0:8] as big-endian uint64 / 2^64 < test_fraction => test";

    public static string Assign(string videoId, double testFraction = DefaultTestFraction)
    {
        if (testFraction is < 0 or > 1 || double.IsNaN(testFraction))
            throw new ArgumentOutOfRangeException(nameof(testFraction), testFraction, "test fraction must be within [0, 1]");
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(videoId), hash);
        var u = BinaryPrimitives.ReadUInt64BigEndian(hash);
        return u / 18446744073709551616.0 < testFraction ? "test" : "train";
    }

    public static SplitInfo Describe(IEnumerable<string> videoIds, double testFraction = DefaultTestFraction)
    {
        var distinct = videoIds.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var test = distinct.Where(v => Assign(v, testFraction) == "test").ToList();
        var train = distinct.Where(v => Assign(v, testFraction) == "train").ToList();
        return new SplitInfo(Method, testFraction, train, test);
    }
}

/// <summary>A manifest that cannot be used; the message names the manifest (and shard) and the problem.</summary>
public sealed class ManifestException(string path, string problem, Exception? inner = null) : Exception($"{path}: {problem}", inner)
{
    public string ManifestPath { get; } = path;
}

/// <summary>Reads, writes and verifies <c>manifest.json</c>.</summary>
public static class ManifestFile
{
    public const string FileName = "manifest.json";

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        RespectRequiredConstructorParameters = true,
        RespectNullableAnnotations = true,
    };

    /// <summary>Writes <c>manifest.json</c> into <paramref name="folder"/> (atomically: temp file, then rename); returns its path.</summary>
    public static string Write(string folder, DatasetManifest manifest)
    {
        Validate(manifest, Path.Combine(folder, FileName));
        var path = Path.Combine(folder, FileName);
        var temp = path + ".tmp";
        File.WriteAllBytes(temp, ToBytes(manifest));
        File.Move(temp, path, overwrite: true);
        return path;
    }

    /// <summary>The manifest's JSON (UTF-8), validated; the same bytes for the same manifest.</summary>
    public static byte[] ToBytes(DatasetManifest manifest)
    {
        Validate(manifest, FileName);
        return JsonSerializer.SerializeToUtf8Bytes(manifest, Json);
    }

    /// <summary>Reads and validates a manifest (a folder means its manifest.json).</summary>
    public static DatasetManifest Read(string path)
    {
        if (Directory.Exists(path))
            path = Path.Combine(path, FileName);
        if (!File.Exists(path))
            throw new ManifestException(path, "file not found");
        DatasetManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<DatasetManifest>(File.ReadAllText(path), Json);
        }
        catch (JsonException e)
        {
            throw new ManifestException(path, $"not a valid manifest: {e.Message}", e);
        }
        if (manifest == null)
            throw new ManifestException(path, "is JSON null");
        Validate(manifest, path);
        return manifest;
    }

    /// <summary>The absolute path of a shard listed in the manifest at <paramref name="manifestPath"/>.</summary>
    public static string ShardPath(string manifestPath, ShardInfo shard) =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(manifestPath))!, shard.Path));

    /// <summary>Checks every shard exists with the listed size and SHA-256; throws naming the first bad shard.</summary>
    public static void Verify(string manifestPath, DatasetManifest manifest)
    {
        foreach (var shard in manifest.Shards)
        {
            using var stream = OpenShardFile(manifestPath, shard);
            VerifyShard(manifestPath, shard, stream);
        }
    }

    /// <summary>
    /// Opens a listed shard for reading after checking its size and SHA-256 through the same handle the reader
    /// then uses: Parquet.Net checks no page CRCs, so a flipped data byte would otherwise read back as wrong values.
    /// </summary>
    public static ShardReader OpenShard(string manifestPath, ShardInfo shard)
    {
        OpenShardFile(manifestPath, shard).Dispose(); // a missing shard is a manifest error, named as such
        return ShardReader.Open(ShardPath(manifestPath, shard), stream => VerifyShard(manifestPath, shard, stream));
    }

    /// <summary>Size and SHA-256 of an open shard against its manifest entry (reads the stream from its start).</summary>
    public static void VerifyShard(string manifestPath, ShardInfo shard, Stream stream)
    {
        stream.Position = 0;
        if (stream.Length != shard.Bytes)
            throw new ManifestException(manifestPath, $"shard {shard.Path} has {stream.Length} bytes, the manifest says {shard.Bytes}");
        var hash = Convert.ToHexStringLower(SHA256.HashData(stream));
        if (hash != shard.Sha256)
            throw new ManifestException(manifestPath, $"shard {shard.Path} has sha256 {hash}, the manifest says {shard.Sha256} (corrupted or replaced)");
        stream.Position = 0;
    }

    private static FileStream OpenShardFile(string manifestPath, ShardInfo shard)
    {
        var file = ShardPath(manifestPath, shard);
        try
        {
            return new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ManifestException(manifestPath, $"shard {shard.Path} is missing ({file})");
        }
    }

    private static void Validate(DatasetManifest m, string path)
    {
        void Fail(string problem) => throw new ManifestException(path, problem);
        if (m.SchemaVersion != DatasetManifest.CurrentSchemaVersion)
            Fail($"schema_version {m.SchemaVersion} is not supported (this build reads {DatasetManifest.CurrentSchemaVersion})");
        if (m.Shards == null)
            Fail("has no shards list");
        foreach (var s in m.Shards!)
        {
            if (s == null || string.IsNullOrEmpty(s.Path))
                Fail("lists a shard without a path");
            if (Path.IsPathRooted(s!.Path) || s.Path.Split('/', '\\').Contains(".."))
                Fail($"shard path '{s.Path}' must be relative to the manifest's folder, without '..'");
            if (s.Rows < 0 || s.Bytes < 0)
                Fail($"shard {s.Path} has negative rows or bytes");
            if (s.Sha256 == null || s.Sha256.Length != 64 || !s.Sha256.All(Uri.IsHexDigit))
                Fail($"shard {s.Path} has no valid sha256 (64 hex digits)");
        }
        if (m.Shards!.Select(s => s.Path).Distinct().Count() != m.Shards!.Count)
            Fail("lists a shard twice");
        if (m.Split == null)
            Fail("has no split");
        if (m.Split!.TestFraction is < 0 or > 1 || double.IsNaN(m.Split.TestFraction))
            Fail($"split test_fraction {m.Split.TestFraction} is outside [0, 1]");
        if (m.Normalization != null)
        {
            try
            {
                SpectralNormalization.ValidateScales(m.Normalization.Scales ?? []);
            }
            catch (ArgumentException e)
            {
                Fail($"normalization: {e.Message}");
            }
        }
    }
}
