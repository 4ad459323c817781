using System.Security.Cryptography;
using System.Text;
using GidCluster.Contracts;
using GidCluster.Grains.Blobs;
using GidCluster.Grains.Ingestion;

namespace GidCluster.Cluster.Tests;

/// <summary>
/// A cheap, real pipeline for exercising the grains at scale: each video's SHA-256 goes to
/// <c>checksum.txt</c> under its prefix; the merge writes <c>checksums.txt</c> listing every video once.
/// Deterministic like every pipeline, so a video run twice leaves the same bytes.
/// </summary>
public sealed class ChecksumPipeline : IVideoProcessor, IIngestionMerge
{
    public const string Name = "checksum";

    public static void Register() => IngestionPipelines.Register(Name, () =>
        new IngestionPipeline(Name, "SHA-256 of each video (tests)", new ChecksumPipeline(), new ChecksumPipeline()));

    public async Task<VideoResult> ProcessAsync(VideoWork work, IBlobStore output, CancellationToken cancel)
    {
        var sha = Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(work.VideoUri, cancel)));
        var info = await output.PutAsync($"{work.OutputPrefix}/checksum.txt", new MemoryStream(Encoding.UTF8.GetBytes(sha)), cancel);
        return new VideoResult([new OutputBlob(info.Path, info.Size, info.Sha256!, 1)], 1, Encoding.UTF8.GetBytes(sha));
    }

    public async Task<MergeResult> MergeAsync(string datasetPrefix, IReadOnlyList<MergedVideo> videos, IBlobStore output, CancellationToken cancel)
    {
        var lines = videos.Select(v => $"{v.VideoId} {Encoding.UTF8.GetString(v.Result.Sketch)}");
        var path = $"{datasetPrefix}/checksums.txt";
        var info = await output.PutAsync(path, new MemoryStream(Encoding.UTF8.GetBytes(string.Join('\n', lines) + "\n")), cancel);
        return new MergeResult(path, info.Sha256!, videos.Count);
    }
}
