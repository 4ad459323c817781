using System.Text.RegularExpressions;
using GidCluster.Dataprep.Manifest;
using GidCluster.Dataprep.OpenCv;
using GidCluster.Dataprep.Synthetic;
using GidCluster.TestSupport;
using Xunit;

namespace GidCluster.Dataprep.Tests;

/// <summary>The learnable corpus (<c>gid synth --corpus</c>): appearance sets motion by the rule, and dataprep recovers it per object.</summary>
public partial class SyntheticCorpusTests
{
    private static List<CorpusObject> Objects(string rule, int scenes, int firstSeed = 1) =>
        Enumerable.Range(firstSeed, scenes).SelectMany(s => SyntheticCorpus.Scene(s, CorpusRule.Parse(rule)).Truth.Objects).ToList();

    [Fact]
    public void Rules_parse_and_bad_ones_are_refused_naming_the_part()
    {
        Assert.Equal("hue", CorpusRule.Parse(CorpusRule.Default).FrequencyFrom);
        Assert.Equal("size", CorpusRule.Parse("size-frequency").FrequencyFrom);
        Assert.Null(CorpusRule.Parse("size-amplitude").FrequencyFrom);
        Assert.Contains("banana", Assert.Throws<ArgumentException>(() => CorpusRule.Parse("hue-frequency,banana")).Message);
        Assert.Contains("frequency twice", Assert.Throws<ArgumentException>(() => CorpusRule.Parse("hue-frequency,size-frequency")).Message);
        Assert.Throws<ArgumentException>(() => CorpusRule.Parse(" , "));
    }

    [Fact]
    public void Each_rule_maps_appearance_to_motion_and_two_rules_map_differently()
    {
        var byHue = Objects("hue-frequency,size-amplitude,orientation-direction", 12);
        var bySize = Objects("size-frequency", 12);
        Assert.True(byHue.Count >= 40 && bySize.Count >= 40, $"{byHue.Count}, {bySize.Count} objects");
        Assert.All(byHue, o => Assert.Equal(SyntheticCorpus.FrequencyBins[o.HueClass], o.DominantBin));
        Assert.All(bySize, o => Assert.Equal(SyntheticCorpus.FrequencyBins[4 - o.SizeClass], o.DominantBin));
        // The other rule's mapping explains a minority of objects only (chance is 1 in 5).
        Assert.True(bySize.Count(o => o.DominantBin == SyntheticCorpus.FrequencyBins[o.HueClass]) < bySize.Count / 2);
        Assert.True(byHue.Count(o => o.DominantBin == SyntheticCorpus.FrequencyBins[4 - o.SizeClass]) < byHue.Count / 2);
        // size-amplitude: longer objects sway wider; orientation-direction: across their axis.
        Assert.All(byHue, o => Assert.InRange(o.AmplitudePx / (0.6 + 2.4 * Math.Clamp((o.LengthPx - 44) / 60, 0, 1)), 0.949, 1.051));
        Assert.All(byHue, o => Assert.InRange(Math.Abs(Math.IEEERemainder(o.DirectionDeg - o.AxisDeg, 180)), 0, 1e-9));
        // All three kinds, all five hue and size classes, amplitudes sub-pixel to a few pixels.
        Assert.Equal(3, byHue.Select(o => o.Kind).Distinct().Count());
        Assert.Equal(5, byHue.Select(o => o.HueClass).Distinct().Count());
        Assert.Equal(5, bySize.Select(o => o.SizeClass).Distinct().Count());
        Assert.All(byHue.Concat(bySize), o => Assert.InRange(o.AmplitudePx, 0.55, 3.2));
        Assert.Contains(byHue, o => o.MeanAmplitudePx < 1);
    }

    [Fact]
    public void True_spectrum_of_each_object_peaks_at_its_rule_bin()
    {
        // The analytic DFT of the scene's displacements (not the rule's bookkeeping) puts the power at the stated bin.
        for (var seed = 1; seed <= 4; seed++)
        {
            var (scene, truth) = SyntheticCorpus.Scene(seed, CorpusRule.Parse(CorpusRule.Default));
            foreach (var o in truth.Objects)
            {
                var power = ObjectSpectra.TruePower(scene, o.Region, 0);
                Assert.Equal(o.DominantBin, ObjectSpectra.DominantBin(power));
                var flutter = power[o.FlutterBin] / power[o.DominantBin];
                Assert.InRange(flutter, 0.005, 0.03); // 8–15% of the amplitude
            }
        }
    }

    [Fact]
    public void Bending_objects_move_smoothly_from_a_still_base_to_the_tip()
    {
        var (scene, truth) = SyntheticCorpus.Scene(3, CorpusRule.Parse(CorpusRule.Default));
        var o = truth.Objects.First(t => t.Kind == "stalk" || t.Kind == "leaf");
        var layer = (BendingObject)scene.Regions[o.Region];
        var a = layer.AxisDeg * Math.PI / 180;
        (double X, double Y) Along(double s) => (layer.BaseX + s * layer.Length * Math.Sin(a) + layer.Curvature * layer.Length * s * s * Math.Cos(a),
            layer.BaseY - s * layer.Length * Math.Cos(a) + layer.Curvature * layer.Length * s * s * Math.Sin(a));
        Assert.Equal(0, layer.Weight(layer.BaseX, layer.BaseY), 9);
        Assert.Equal(1, layer.Weight(Along(1).X, Along(1).Y), 9);
        double previous = 0;
        for (var s = 0.05; s < 0.97; s += 0.05)
        {
            var (x, y) = Along(s);
            Assert.True(layer.ContainsRest(x, y), $"midline point s={s:0.00} outside the shape");
            var w = layer.Weight(x, y);
            Assert.True(w > previous && w - previous < 0.11, $"weight {previous:0.000} → {w:0.000} at s={s:0.00}");
            previous = w;
        }
        // Rendering solves q + w(q)·D = p: the rest point found maps back onto the pixel.
        var d = layer.Displacement(0.7);
        var (px, py) = Along(0.9);
        var (qx, qy) = layer.RestPoint(px, py, d);
        var wq = layer.Weight(qx, qy);
        Assert.Equal(px, qx + wq * d.X, 6);
        Assert.Equal(py, qy + wq * d.Y, 6);
    }

    [Fact]
    public void Crowded_scenes_shrink_or_place_fewer_layers_and_say_so()
    {
        // Seed 9 used to end gid synth with "cannot place 3 regions in 256x160".
        var nine = SyntheticScene.Random(seed: 9);
        Assert.Equal(3, nine.Regions.Count);
        Assert.Contains(nine.Notes, n => n.Contains("shrank"));
        var crowded = SyntheticScene.Random(seed: 1, regions: 40);
        Assert.InRange(crowded.Regions.Count, 1, 39);
        Assert.Contains(crowded.Notes, n => n.Contains($"placed {crowded.Regions.Count} of 40"));
        var (scene, truth) = SyntheticCorpus.Scene(1, CorpusRule.Parse(CorpusRule.Default), objects: 30);
        Assert.Equal(scene.Regions.Count, truth.Objects.Count);
        Assert.Contains(scene.Notes, n => n.Contains("of 30"));
        // Placed layers never overlap, even while moving.
        for (var frame = 0; frame < 160; frame += 7)
        {
            for (var y = 0; y < scene.Height; y += 2)
            {
                for (var x = 0; x < scene.Width; x += 2)
                {
                    var t = frame / scene.Fps;
                    var showing = scene.Regions.Count(l => { var (qx, qy) = l.RestPoint(x, y, l.Displacement(t)); return l.ContainsRest(qx, qy); });
                    Assert.True(showing <= 1, $"{showing} layers at ({x},{y}) in frame {frame}");
                }
            }
        }
    }

    [Fact]
    public void Held_out_picture_is_frame_zero_with_labels_and_a_sidecar_that_renders_the_same_scene()
    {
        using var dir = Paths.NewTempDir("gid-corpus-picture");
        var (scene, truth) = SyntheticCorpus.Scene(5, CorpusRule.Parse("size-frequency"));
        var png = Path.Combine(dir.Path, "heldout_00005.png");
        SyntheticVideo.WritePicture(scene, png, truth);

        var sidecar = SyntheticSidecar.Read(Path.ChangeExtension(png, ".json"));
        Assert.Equal("size-frequency", sidecar.Corpus!.Rule);
        Assert.Equal(truth.Objects.Select(o => o.DominantBin), sidecar.Corpus.Objects.Select(o => o.DominantBin));
        Assert.All(sidecar.Scene.Regions, l => Assert.IsType<BendingObject>(l));
        var expected = new byte[scene.Width * scene.Height * 3];
        var again = new byte[expected.Length];
        scene.Render(0, expected);
        sidecar.Scene.Render(0, again);
        Assert.Equal(expected, again);

        // Read back through OpenCV: the PNG is frame 0 exactly, the labels name the layer at each pixel.
        using var image = Cv2.ImRead(png);
        using var labels = Cv2.ImRead(SyntheticVideo.LabelsPath(png), 0);
        var bgr = image.ToArray<byte>();
        var label = labels.ToArray<byte>();
        for (var p = 0; p < scene.Width * scene.Height; p++)
        {
            Assert.Equal(expected[3 * p], bgr[3 * p + 2]);
            Assert.Equal(scene.RegionAt(0, p % scene.Width, p / scene.Width) + 1, label[p]);
        }
        foreach (var o in truth.Objects)
        {
            var count = label.Count(v => v == o.Region + 1);
            Assert.InRange(count, 0.85 * o.Pixels, 1.15 * o.Pixels);
        }

        // A sidecar of the first format (layers without a shape) or no sidecar at all is refused naming the file.
        var old = Path.Combine(dir.Path, "old.json");
        File.WriteAllText(old, """{"schema":"gid-synth/1","scene":{"seed":1,"width":256,"height":160,"fps":30,"frames":160,"background":[],"regions":[{"center_x":9,"center_y":9,"radius_x":5,"radius_y":5,"texture":[],"tint":[1,1,1],"x":[],"y":[]}]},"spectra":[]}""");
        Assert.Contains(old, Assert.Throws<InvalidDataException>(() => SyntheticSidecar.Read(old)).Message);
        File.WriteAllText(old, "[]");
        Assert.Contains(old, Assert.Throws<InvalidDataException>(() => SyntheticSidecar.Read(old)).Message);
    }

    [GeneratedRegex(@"objects within ±1 bin of the truth: (\d+)/(\d+)")]
    private static partial Regex ScoreLine();

    /// <summary>
    /// The property training relies on, end to end with the real commands: gid synth --corpus
    /// under two rules, gid dataprep over the videos, and the recovered spectral volumes put each
    /// object's motion power at its true bin (±1), following each rule's own appearance → bin map.
    /// </summary>
    [Fact]
    public void Dataprep_recovers_each_objects_frequency_under_two_different_rules()
    {
        using var dir = Paths.NewTempDir("gid-corpus");
        var videos = Path.Combine(dir.Path, "videos");
        Directory.CreateDirectory(videos);
        foreach (var (rule, seed) in new[] { ("hue-frequency", "11"), ("size-frequency", "21") })
        {
            var corpus = Path.Combine(dir.Path, rule);
            var synth = Programs.Gid("synth", "--corpus", "--rule", rule, "--out", corpus, "--seed", seed, "--count", "2", "--heldout", "1", "--frames", "150");
            Assert.True(synth.ExitCode == 0, synth.Combined);
            foreach (var f in Directory.EnumerateFiles(Path.Combine(corpus, "videos")))
                File.Move(f, Path.Combine(videos, $"{rule}_{Path.GetFileName(f)}"));
            Assert.True(File.Exists(Path.Combine(corpus, "heldout", $"heldout_{int.Parse(seed) + 2:D5}.png")));
            Assert.Contains($"\"rule\": \"{rule}\"", File.ReadAllText(Path.Combine(corpus, "corpus.json")));
        }
        var output = Path.Combine(dir.Path, "dataset");
        var prep = Programs.Gid("dataprep", videos, "--out", output, "--workers", "2");
        Assert.True(prep.ExitCode == 0, prep.Combined);

        var score = Programs.Gid("synth", "score", output);
        Assert.True(score.ExitCode == 0, score.Combined);
        var line = ScoreLine().Match(score.Stdout);
        Assert.True(line.Success, score.Stdout);
        Assert.True(line.Groups[1].Value == line.Groups[2].Value, score.Stdout);

        var (scores, skipped) = ObjectSpectra.ScoreDataset(output);
        Assert.Empty(skipped);
        Assert.True(scores.Count >= 12, $"{scores.Count} objects scored");
        Assert.All(scores, s => Assert.True(s.Within(1), $"{s.VideoId} object {s.Region} ({s.Kind}): recovered bin {s.RecoveredBin}, true {s.TrueBin}"));
        var manifestPath = Path.Combine(output, ManifestFile.FileName);
        foreach (var s in scores)
        {
            var source = Directory.EnumerateFiles(videos, $"{s.VideoId}.json").Single();
            var sidecar = SyntheticSidecar.Read(source);
            Assert.Contains(sidecar.Spectra, t => t.StartFrame == s.StartFrame && t.Region == s.Region); // the truth for every clip dataprep took
            var o = sidecar.Corpus!.Objects[s.Region];
            var ruleBin = s.VideoId.StartsWith("hue", StringComparison.Ordinal)
                ? SyntheticCorpus.FrequencyBins[o.HueClass] : SyntheticCorpus.FrequencyBins[4 - o.SizeClass];
            Assert.True(Math.Abs(s.RecoveredBin - ruleBin) <= 1, $"{s.VideoId} object {s.Region}: recovered bin {s.RecoveredBin}, rule says {ruleBin}");
        }
        Assert.True(File.Exists(manifestPath));
    }
}
