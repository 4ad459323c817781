using GidCluster.Dataprep.Manifest;
using GidCluster.Dataprep.Shards;

namespace GidCluster.Dataprep.Synthetic;

/// <summary>One object of one sample: where the recovered motion power peaks versus where the truth's does.</summary>
/// <param name="Power">Mean |S_k|² (x and y summed) over the object's interior pixels, k = 0…K−1.</param>
public sealed record ObjectScore(string VideoId, int StartFrame, int Region, string Kind, int Pixels, int TrueBin, int RecoveredBin, double[] Power)
{
    public bool Within(int tolerance) => Math.Abs(RecoveredBin - TrueBin) <= tolerance;
}

/// <summary>
/// Per-object spectra of a spectral volume <c>[K, 4, H, W]</c> (Re x, Im x, Re y, Im y) made from a
/// synthetic video, compared with the scene's analytic truth: the property a model trained on
/// the corpus relies on (each object's motion power sits at its true frequency bin).
/// </summary>
public static class ObjectSpectra
{
    /// <summary>The non-DC bin with the most power.</summary>
    public static int DominantBin(IReadOnlyList<double> power)
    {
        var best = 1;
        for (var k = 2; k < power.Count; k++)
        {
            if (power[k] > power[best])
                best = k;
        }
        return best;
    }

    /// <summary>True power per bin of layer r for start frame s where its weight is 1: |S_x,k|² + |S_y,k|².</summary>
    public static double[] TruePower(SyntheticScene scene, int region, int start, int bins = 16)
    {
        var c = scene.TrueCoefficients(region, start, bins: bins);
        return Enumerable.Range(0, bins).Select(k =>
            c[0, k].Re * c[0, k].Re + c[0, k].Im * c[0, k].Im + c[1, k].Re * c[1, k].Re + c[1, k].Im * c[1, k].Im).ToArray();
    }

    /// <summary>
    /// Scores every layer of <paramref name="scene"/> in one sample's volume: power per bin averaged
    /// over the pixels of frame <paramref name="start"/> that show the layer's interior (at least
    /// <paramref name="margin"/> px from its edge, away from occlusion boundaries).
    /// </summary>
    public static List<ObjectScore> Score(string videoId, int start, ReadOnlySpan<Half> volume, int width, int height, SyntheticScene scene, double margin = 2)
    {
        if (width != scene.Width || height != scene.Height)
            throw new ArgumentException($"{videoId}: the volume is {width}x{height}, its scene {scene.Width}x{scene.Height}");
        var plane = width * height;
        var bins = volume.Length / (4 * plane);
        if (bins < 2 || volume.Length != bins * 4 * plane)
            throw new ArgumentException($"{videoId}: a volume of {volume.Length} values is not [K, 4, {height}, {width}]");
        var power = new double[scene.Regions.Count, bins];
        var pixels = new int[scene.Regions.Count];
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var r = scene.InteriorRegionAt(start, x, y, margin);
                if (r < 0)
                    continue;
                pixels[r]++;
                var p = y * width + x;
                for (var k = 0; k < bins; k++)
                {
                    for (var c = 0; c < 4; c++)
                    {
                        var v = (double)volume[(k * 4 + c) * plane + p];
                        power[r, k] += v * v;
                    }
                }
            }
        }
        var scores = new List<ObjectScore>();
        for (var r = 0; r < scene.Regions.Count; r++)
        {
            if (pixels[r] == 0)
                continue;
            var mean = Enumerable.Range(0, bins).Select(k => power[r, k] / pixels[r]).ToArray();
            var kind = scene.Regions[r] is BendingObject b ? b.Kind : "ellipse";
            scores.Add(new ObjectScore(videoId, start, r, kind, pixels[r], DominantBin(TruePower(scene, r, start, bins)), DominantBin(mean), mean));
        }
        return scores;
    }

    /// <summary>
    /// Scores every sample of a dataset (a <c>gid dataprep</c> output folder or its manifest) whose
    /// source video has a <c>gid synth</c> sidecar next to it; returns the scores and the videos
    /// skipped for want of one.
    /// </summary>
    public static (List<ObjectScore> Scores, List<string> Skipped) ScoreDataset(string folderOrManifest, double margin = 2)
    {
        var manifestPath = Directory.Exists(folderOrManifest) ? Path.Combine(folderOrManifest, ManifestFile.FileName) : folderOrManifest;
        if (!File.Exists(manifestPath))
            throw new FileNotFoundException($"{manifestPath}: no such manifest (run gid dataprep --out {folderOrManifest} first)");
        var manifest = ManifestFile.Read(manifestPath);
        var scenes = new Dictionary<string, SyntheticScene?>();
        var scores = new List<ObjectScore>();
        var skipped = new List<string>();
        foreach (var shard in manifest.Shards)
        {
            using var reader = ShardReader.Open(ManifestFile.ShardPath(manifestPath, shard));
            foreach (var sample in reader.ReadAll())
            {
                if (!scenes.TryGetValue(sample.VideoId, out var scene))
                {
                    var sidecar = Path.ChangeExtension(new Uri(sample.SourceUri).LocalPath, ".json");
                    scene = scenes[sample.VideoId] = File.Exists(sidecar) ? SyntheticSidecar.Read(sidecar).Scene : null;
                    if (scene == null)
                        skipped.Add(sample.VideoId);
                }
                if (scene != null)
                    scores.AddRange(Score(sample.VideoId, sample.StartFrame, sample.SpectralVolume, sample.Width, sample.Height, scene, margin));
            }
        }
        return (scores, skipped);
    }
}
