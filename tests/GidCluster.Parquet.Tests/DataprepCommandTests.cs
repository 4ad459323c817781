using System.Text.Json;
using GidCluster.Dataprep.Manifest;
using GidCluster.Dataprep.Synthetic;
using GidCluster.TestSupport;

namespace GidCluster.Parquet.Tests;

/// <summary><c>gid dataprep</c> end to end on synthetic videos: shards + manifest that DuckDB, the manifest check, <c>gid inspect</c> and <c>gid spectrum</c> accept.</summary>
public class DataprepCommandTests
{
    private static ProgramResult Gid(params string[] args) =>
        Programs.Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "gid.dll"), .. args], TimeSpan.FromMinutes(5));

    /// <summary>The first id "scene_N" that the split puts into <paramref name="split"/>, so the run surely has both splits.</summary>
    private static string IdIn(string split) =>
        Enumerable.Range(0, 1000).Select(n => $"scene_{n}").First(id => DatasetSplit.Assign(id) == split);

    [Fact]
    public void Gid_dataprep_writes_verified_shards_and_a_manifest_with_the_split()
    {
        using var dir = Paths.NewTempDir("gid-dataprep-cmd");
        var videos = Path.Combine(dir.Path, "videos");
        Directory.CreateDirectory(videos);
        string[] ids = [IdIn("train"), IdIn("test")];
        for (var i = 0; i < ids.Length; i++)
            SyntheticVideo.Write(SyntheticScene.Random(seed: 21 + i, frames: 165), Path.Combine(videos, $"{ids[i]}.mp4"), timeout: TimeSpan.FromMinutes(2));
        var output = Path.Combine(dir.Path, "out");

        // 165 frames: start frames 0 and 10 each have their 149 following frames.
        var run = Gid("dataprep", videos, "--out", output, "--max-clips", "2", "--workers", "2");
        Assert.True(run.ExitCode == 0, run.Stdout + run.Stderr);

        var manifestPath = Path.Combine(output, ManifestFile.FileName);
        var manifest = ManifestFile.Read(manifestPath);
        ManifestFile.Verify(manifestPath, manifest);
        Assert.Equal(4, manifest.TotalRows);
        Assert.Equal([ids[0]], manifest.Split.TrainVideos);
        Assert.Equal([ids[1]], manifest.Split.TestVideos);
        Assert.NotNull(manifest.Normalization);
        Assert.Equal(16, manifest.Normalization!.Scales.Length);
        Assert.Equal(95, manifest.Normalization.Percentile);
        Assert.Equal("train", (string)manifest.Normalization.Sketch!["videos"]!);
        Assert.Equal(2, (int)manifest.Config!["max_clips"]!);
        foreach (var f in new[] { "videos.json", "statistics.json", "spectrum.json", "samples.jsonl" })
            Assert.True(File.Exists(Path.Combine(output, f)), f);

        var files = string.Join(", ", manifest.Shards.Select(s => DuckDb.Quote(ManifestFile.ShardPath(manifestPath, s))));
        var rows = DuckDb.Run($"select video_id, start_frame, split, octet_length(spectral_volume)::INTEGER as n from read_parquet([{files}]) order by video_id, start_frame");
        Assert.Equal(4, rows.Count);
        var seen = rows.Select(r => ((string)r!["video_id"]!, (int)r["start_frame"]!, (string)r["split"]!, (int)r["n"]!)).ToList();
        var expected = ids.Order(StringComparer.Ordinal).SelectMany(id => new[] { 0, 10 }.Select(s => (id, s, id == ids[1] ? "test" : "train", 16 * 4 * 160 * 256 * 2))).ToList();
        Assert.Equal(expected, seen);

        using var stats = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "statistics.json")));
        Assert.Equal(16, stats.RootElement.GetProperty("scales").GetArrayLength());

        var inspect = Gid("inspect", manifestPath);
        Assert.True(inspect.ExitCode == 0, inspect.Stdout + inspect.Stderr);
        Assert.Contains(manifest.Shards[0].Path, inspect.Stdout);
        var png = Path.Combine(dir.Path, "spectrum.png");
        var spectrum = Gid("spectrum", manifestPath, "--out", png);
        Assert.True(spectrum.ExitCode == 0, spectrum.Stdout + spectrum.Stderr);
        Assert.True(new FileInfo(png).Length > 1000);
    }
}
